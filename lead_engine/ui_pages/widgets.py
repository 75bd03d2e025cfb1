"""Small display pieces the pages share: status badges, safe text, times and the leads table."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from lead_engine.core.models import Lead

STATUS_LOOK: dict[str, tuple[str, str, str]] = {
    "received": ("Received", "gray", "📨"),
    "needs_review": ("Needs review", "orange", "🟠"),
    "ready": ("Ready", "blue", "🔵"),
    "syncing": ("Syncing", "violet", "🔄"),
    "synced": ("Synced", "green", "✅"),
    "retrying": ("Retrying", "yellow", "⏳"),
    "dead": ("Dead", "red", "⛔"),
    "rejected": ("Rejected", "gray", "🚫"),
}
# Runs in the app's own page (components v2 are not sandboxed), so the cookie is the app's.
_cookie_writer = st.components.v2.component(
    "lead_engine_cookie", js="export default function ({ data }) { if (data) document.cookie = data; }"
)
PROVENANCE_COLOR = {"rule": "blue", "llm": "violet", "operator": "green", "import": "orange"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")
# Streamlit's Markdown turns these into links or pictures even when escaped (it scans the text after
# unescaping): web and e-mail addresses, and :shortcodes: or :color[…]. An invisible word joiner breaks each.
_LINK_OR_SHORTCODE = re.compile(r"(?=://)|(?i:(?<=www)(?=\.))|(?=@)|(?<=:)(?=[\w+-])")
WORD_JOINER = "\u2060"


def set_cookie(cookie: str) -> None:
    """Set a cookie in the browser (``name=value; attributes``); the server reads it on the next page load."""
    _cookie_writer(data=cookie, key="cookie_writer", height=0)


def status_label(status: str) -> str:
    """A status as plain words."""
    return STATUS_LOOK.get(status, (status, "gray", ""))[0]


def show_status(status: str) -> None:
    """A coloured badge for a lead status."""
    label, color, _ = STATUS_LOOK.get(status, (status, "gray", "•"))
    st.badge(label, color=color)  # type: ignore[arg-type]


def escape_markdown(text: str) -> str:
    """Lead data made inert for places that render Markdown: shown exactly as typed, never as a link or markup."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINK_OR_SHORTCODE.sub(WORD_JOINER, text))


def local_time(moment: datetime | None) -> str:
    """A moment in the browser's time zone (UTC when unknown), to the minute."""
    if moment is None:
        return ""
    try:
        zone = ZoneInfo(st.context.timezone) if st.context.timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    shown = moment.astimezone(zone) if zone else moment
    return shown.strftime("%Y-%m-%d %H:%M") + ("" if zone else " UTC")


def leads_frame(leads: list[Lead]) -> pd.DataFrame:
    """The leads as a table of text: lead data is never rendered as HTML or Markdown."""
    return pd.DataFrame(
        [
            {
                "Status": status_label(lead.status),
                "Received": local_time(lead.received_at),
                "Source": lead.source,
                "Company": lead.company or "",
                "Contact": lead.contact_name or "",
                "E-mail": lead.email or "",
                "Score": lead.score,
                "City": lead.city or "",
                "id": lead.id,
            }
            for lead in leads
        ],
        columns=["Status", "Received", "Source", "Company", "Contact", "E-mail", "Score", "City", "id"],
    )


def lead_title(lead: Lead) -> str:
    """A short one-line name for a lead, as plain text."""
    parts = [lead.company or "(no company)", lead.contact_name or lead.email or ""]
    return " · ".join(part for part in parts if part)
