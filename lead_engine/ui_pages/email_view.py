"""A lead's original e-mail on its page: headers and text with each field highlighted where it was found."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesHeaderParser
from html import escape
from urllib.parse import quote

import pandas as pd
import streamlit as st

from lead_engine.core.errors import LeadEngineError
from lead_engine.core.field_sources import Span, find_sources
from lead_engine.core.imports.mapping import TARGET_LABELS
from lead_engine.core.imports.rows import IMPORT_ROW_TYPE
from lead_engine.core.inbound import read_inbound
from lead_engine.core.lead_fields import CANONICAL_FIELDS, InboundEmail
from lead_engine.core.leads import get_raw_message
from lead_engine.core.mime import as_eml
from lead_engine.core.models import Lead
from lead_engine.core.parsing.parser import choose_body_text
from lead_engine.ui_pages import context
from lead_engine.ui_pages.widgets import FIELD_LABELS, escape_markdown, local_time

SHOWN_HEADERS = ("From", "Reply-To", "To", "Cc", "Date", "Subject", "Message-ID")
# One light colour per field, dark text on each, so neighbouring highlights tell apart and read in print.
FIELD_COLORS = {
    "company": "#ffe08a", "contact_name": "#b8e1ff", "salutation": "#e2e2e2", "email": "#c7f0c2",
    "phone": "#ffc9de", "website": "#d9ccff", "street": "#ffd6b3", "postal_code": "#c2f0ea", "city": "#c2f0ea",
    "country": "#e6f0b8", "industry": "#f0d1b8", "employees": "#e2e2e2", "budget": "#fff3b0",
    "message": "#eef4ff", "external_id": "#e2e2e2",
}  # fmt: skip
_BOX = (
    "white-space:pre-wrap;word-break:break-word;font-size:0.85rem;line-height:1.5;max-height:460px;"
    "overflow:auto;padding:0.75rem;border:1px solid rgba(49,51,63,0.2);border-radius:0.5rem;margin:0"
)


def show_imported_row(body: bytes) -> None:
    """Where an imported lead came from: the file, the row, and the cells it was made of."""
    stored = json.loads(body)
    st.subheader("Imported row")
    st.markdown(
        f"Row {int(stored.get('row', 0))} of {escape_markdown(str(stored.get('file', '?')))} "
        f"([open the import](/import?id={quote(str(stored.get('import', '')))}))"
    )
    cells = [
        {"Field": TARGET_LABELS.get(name, name), "Value": value} for name, value in stored.get("values", {}).items()
    ]
    st.dataframe(pd.DataFrame(cells, columns=["Field", "Value"]), hide_index=True, width="stretch")


def show_email(lead: Lead) -> None:
    """The original e-mail as the text the parser read, fields highlighted; HTML as its source; an .eml."""
    st.subheader("Original e-mail")
    try:
        with context.reading() as session:
            raw = get_raw_message(session=session, lead_id=lead.id)
        if raw.content_type == IMPORT_ROW_TYPE:
            show_imported_row(raw.body)
            return
        email: InboundEmail | None = read_inbound(raw.content_type, raw.body, source=lead.source)
    except LeadEngineError as exc:
        st.warning(f"The original message cannot be read: {escape_markdown(str(exc))}")
        email = None
    if email is None:
        return
    eml = as_eml(email, sender=lead.sender, subject=lead.subject, received_at=lead.received_at)
    st.download_button(
        "Download .eml", eml, file_name=f"lead-{lead.id}.eml", mime="message/rfc822",
        icon=":material/download:", help="The e-mail as received (or as sent to the API), for a mail program.",
    )  # fmt: skip
    tabs = ["Text", "HTML source"] if email.html.strip() else ["Text"]
    shown = st.tabs(tabs)
    with shown[0]:
        headers = "\n".join(f"{name}: {value}" for name, value in shown_headers(email, lead))
        body = choose_body_text(email) or "(the e-mail has no text)"
        values = {name: getattr(lead, name) for name in CANONICAL_FIELDS}
        spans = sources_in(headers, body, values)
        st.html(legend(spans, values) + highlighted(f"{headers}\n\n{body}", spans, headers_end=len(headers)))
    if len(shown) > 1:
        with shown[1]:
            st.code(email.html, language="html", wrap_lines=True, height=460)


def shown_headers(email: InboundEmail, lead: Lead) -> list[tuple[str, str]]:
    """The headers a person checks, as plain text: from the raw mail, else what the API was sent."""
    if email.raw_mime:
        parsed = BytesHeaderParser(policy=policy.default).parsebytes(email.raw_mime)
        found = [(name, " ".join(str(parsed.get(name, "")).split())) for name in SHOWN_HEADERS]
        return [(name, value[:500]) for name, value in found if value]
    when = local_time(email.received_at or lead.received_at)
    found = [
        ("From", email.sender or lead.sender or ""),
        ("Date", when),
        ("Subject", email.subject or lead.subject or ""),
    ]
    return [(name, value[:500]) for name, value in found if value]


def sources_in(headers: str, body: str, values: dict[str, str | None]) -> list[Span]:
    """Each value's place in the body, else in the headers (a sender's address, a subject naming the company)."""
    in_body = find_sources(body, values)
    found = {span.field for span in in_body}
    in_headers = find_sources(headers, {name: value for name, value in values.items() if name not in found})
    offset = len(headers) + 2
    return in_headers + [Span(span.start + offset, span.end + offset, span.field) for span in in_body]


def highlighted(text: str, spans: list[Span], *, headers_end: int = 0) -> str:
    """The text as inert HTML, each span a ``<mark>`` named for its field; the headers part greyed."""
    parts, at = [], 0
    for span in spans:
        parts.append(escape(text[at : span.start]))
        label = escape(FIELD_LABELS[span.field])
        parts.append(
            f'<mark data-field="{span.field}" title="{label}" style="background:{FIELD_COLORS[span.field]};'
            f'color:#1f2430;border-radius:3px;padding:0 2px">{escape(text[span.start : span.end])}</mark>'
        )
        at = span.end
    parts.append(escape(text[at:]))
    body = "".join(parts)
    if headers_end:  # grey the header lines: the escaped headers end at the first blank line
        head, _, rest = body.partition("\n\n")
        body = f'<span style="opacity:0.7">{head}</span>\n\n{rest}'
    return f'<pre data-testid="lead-email-text" style="{_BOX}">{body}</pre>'


def legend(spans: list[Span], values: dict[str, str | None]) -> str:
    """Which colour is which field, and which fields the text does not show (typed, mapped or normalised)."""
    found = list(dict.fromkeys(span.field for span in spans))
    chips = "".join(
        f'<span style="background:{FIELD_COLORS[name]};color:#1f2430;border-radius:3px;padding:0 4px;'
        f'margin:0 4px 2px 0;display:inline-block;white-space:nowrap">{escape(FIELD_LABELS[name])}</span>'
        for name in found
    )
    missing = [FIELD_LABELS[name] for name in CANONICAL_FIELDS if values.get(name) and name not in found]
    note = f"<br>Not found as written in the text: {escape(', '.join(missing))}." if missing else ""
    words = "Where each field was found: " if found else "No field value stands in the text as written."
    return f'<p style="font-size:0.8rem;margin:0 0 0.5rem 0">{words}{chips}{note}</p>'
