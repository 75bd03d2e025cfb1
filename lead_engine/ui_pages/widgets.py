"""Small display pieces the pages share: status badges, safe text, times and the leads table."""

from __future__ import annotations

import re
from collections.abc import Callable
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
    "dead": ("Couldn't sync", "red", "⛔"),
    "rejected": ("Rejected", "gray", "🚫"),
}
# Runs in the app's own page (components v2 are not sandboxed), so the cookie is the app's.
_cookie_writer = st.components.v2.component(
    "lead_engine_cookie", js="export default function ({ data }) { if (data) document.cookie = data; }"
)
FIELD_LABELS = {
    "company": "Company", "contact_name": "Contact", "salutation": "Salutation", "email": "E-mail",
    "phone": "Phone", "website": "Website", "street": "Street", "postal_code": "Postal code", "city": "City",
    "country": "Country (ISO)", "industry": "Industry", "employees": "Employees", "budget": "Budget",
    "message": "Message", "external_id": "External id",
}  # fmt: skip
PROVENANCE_COLOR = {"rule": "blue", "llm": "violet", "operator": "green", "import": "orange"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")
# Streamlit's Markdown turns these into links or pictures even when escaped (it scans the text after
# unescaping): web and e-mail addresses, and :shortcodes: or :color[…]. An invisible word joiner breaks each.
_LINK_OR_SHORTCODE = re.compile(r"(?=://)|(?i:(?<=www)(?=\.))|(?=@)|(?<=:)(?=[\w+-])")
WORD_JOINER = "\u2060"
SYNC_OFF = "Sync is off: no Company Explorer is set up (see Settings)."


def set_cookie(cookie: str) -> None:
    """Set a cookie in the browser (``name=value; attributes``); the server reads it on the next page load."""
    _cookie_writer(data=cookie, key="cookie_writer", height=0)


# Buttons that only carry a keyboard shortcut (a popover takes none) are kept out of sight by one style the app
# sets before any page draws: set beside the button, it arrived after it, and the button showed for a moment.
KEYBOARD_ONLY = "_keyboard_only"
KEYBOARD_ONLY_STYLE = f"<style>[class*='{KEYBOARD_ONLY}'] {{display: none}}</style>"


def _reject_and_close(key: str, on_reject: Callable[[str], None]) -> None:
    reason = str(st.session_state.get(f"{key}_reason", "")).strip()
    st.session_state[key] = False  # the popover closes
    st.session_state[f"{key}_reason"] = ""
    on_reject(reason)


def _open(key: str) -> None:
    st.session_state[key] = True


def reject_popover(
    key: str, count: int, on_reject: Callable[[str], None], *, in_explorer: list[str], shortcut: str | None = None
) -> None:
    """Reject with an optional reason; closes once done. Leads already in the Company Explorer are named: rejecting
    them here leaves their records there. A ``shortcut`` opens it from the keyboard."""
    if shortcut:  # a popover takes no shortcut: a button kept out of sight opens it
        st.button("Open reject", key=f"{key}{KEYBOARD_ONLY}", shortcut=shortcut, on_click=_open, args=(key,))
    with st.popover("Reject", icon=":material/block:", width="stretch", key=key, on_change="rerun", help=shortcut):
        st.text_input("Reason", key=f"{key}_reason", placeholder="e.g. spam, job application")
        if in_explorer:
            which = "This lead is" if count == 1 else f"{len(in_explorer)} of these leads are"
            records = ", ".join(in_explorer[:5]) + (" …" if len(in_explorer) > 5 else "")
            st.warning(
                f"{which} already in the Company Explorer (record {escape_markdown(records)}). Rejecting here "
                "does not remove it there: delete or mark it in the Company Explorer as well."
            )
        st.button(
            "Reject lead" if count == 1 else f"Reject {count} leads", key=f"{key}_confirm", type="primary",
            on_click=_reject_and_close, args=(key, on_reject),
        )  # fmt: skip


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


def explorer_records(leads: list[Lead]) -> list[str]:
    """The Company Explorer records of those leads that have one."""
    return [lead.company_explorer_id for lead in leads if lead.company_explorer_id]


def lead_title(lead: Lead) -> str:
    """A short one-line name for a lead, as plain text: the company and who wrote; without a company, who wrote
    and about what."""
    person = lead.contact_name or lead.email or ""
    parts = [lead.company, person] if lead.company else [person, lead.subject or ""]
    return " · ".join(part for part in parts if part) or "(nothing read from it yet)"
