"""An e-mail as n8n's Email Trigger (IMAP) node hands it on, in its "Simple" and "Resolved" formats.

Shapes as n8n 2.41 gives them (seen on real mails; tests/fixtures/n8n holds captured items): Simple has
`textPlain`/`textHtml` with CRLF line ends, `from` as a string, `date` as the raw header and the Message-ID,
Reply-To and the other headers in `metadata`; Resolved has `text`, `html` (`false` without an HTML part),
`messageId`, an ISO `date`, and `from` and `replyTo` as objects.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any


def _content(part: EmailMessage | None) -> str:
    if part is None:
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset: n8n's parser falls back the same way
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _parts(message: EmailMessage) -> tuple[str, str]:
    return _content(message.get_body(preferencelist=("plain",))), _content(message.get_body(preferencelist=("html",)))


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def simple_item(raw: bytes) -> dict[str, Any]:
    """The Simple format's item for a raw message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text, html = _parts(message)
    item: dict[str, Any] = {
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
        "date": str(message.get("Date", "")),
        # Every header but the ones with fields of their own, as n8n's Simple format keeps them.
        "metadata": {
            key.lower(): str(value)
            for key, value in message.items()
            if key.lower() not in {"from", "to", "subject", "date", "cc", "bcc"}
        },
        "textPlain": _crlf(text),
    }
    if html:
        item["textHtml"] = _crlf(html)
    return {key: value for key, value in item.items() if value not in ("", None)}


def resolved_item(raw: bytes) -> dict[str, Any]:
    """The Resolved format's item for a raw message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text, html = _parts(message)
    sender = str(message.get("From", ""))
    date = message.get("Date")
    item: dict[str, Any] = {
        "from": _address_object(sender),
        "subject": str(message.get("Subject", "")),
        "date": parsedate_to_datetime(str(date)).isoformat() if date else None,
        "messageId": str(message.get("Message-ID", "")) or None,
        "text": text,
        "textAsHtml": f"<p>{text}</p>",
        "html": html or False,
    }
    if reply_to := str(message.get("Reply-To", "")):
        item["replyTo"] = _address_object(reply_to)
    return item


def _address_object(header: str) -> dict[str, Any]:
    # n8n's parser gives address headers as {"value": [{"address", "name"}], "text", "html"}.
    return {
        "value": [{"address": address, "name": name} for name, address in getaddresses([header])],
        "text": header,
        "html": header,
    }


def simple_request(item: dict[str, Any], source: str = "email") -> dict[str, Any]:
    """The body the shipped workflow's HTTP Request node builds from a Simple item (undefined values dropped)."""
    body = {
        "source": source,
        "subject": item.get("subject"),
        "raw_body": item.get("textPlain"),
        "html_body": item.get("textHtml"),
        "sender": item.get("from"),
        "message_id": item.get("metadata", {}).get("message-id"),
        "reply_to": item.get("metadata", {}).get("reply-to"),
        "received_at": item.get("date"),
    }
    return {key: value for key, value in body.items() if value is not None}
