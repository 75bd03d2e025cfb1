"""Reading RFC 822 messages, however broken, into subject, sender, ids and text/HTML bodies.

Nothing here raises: undecodable parts are read leniently, and whatever could be read is returned.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.parser
import email.policy
import email.utils
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage, Message

from lead_engine.core.lead_fields import AUTOMATION_HEADERS, InboundEmail
from lead_engine.core.parsing.html_text import html_to_text

# Beyond this a body is not a lead e-mail any more; keeping the head is enough to parse and cheap to store.
MAX_BODY_CHARS = 1_000_000
# Forwarded-as-attachment chains deeper than this are loops or attacks.
MAX_DEPTH = 12
# A message declaring more MIME parts than this (boundaries and part headers, counted in the raw bytes before
# any parsing) is read for its headers only: the stdlib parser's time grows with nesting (5,000 levels: ~1 s).
MAX_PARTS = 100
TOO_COMPLEX = "message too complex"
_PART_MARKS = re.compile(rb"(?m)^content-type:|boundary\s*=")  # searched in lower-cased bytes

# Mail clients label Windows-1252 and UTF-8 text as ISO-8859-1 or ASCII. Valid UTF-8 with non-ASCII bytes is
# almost never an accident, so these labels try UTF-8 first, then cp1252, which also covers € and „ “.
_WEAK_CHARSETS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252", "cp1252"}
)
_BODY_BOUNDARY = re.compile(r"^--([0-9A-Za-z'()+_,./:=?-]{1,70}?)(?:--)?\s*$", re.MULTILINE)
_FORWARD_MARKER = "---------- Forwarded message ---------"
# A message without any of these is a body that lost its header block ("Firma: …" lines parse as headers too).
_MAIL_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "received", "return-path",
     "sender", "reply-to", "delivered-to"}
)  # fmt: skip


@dataclass
class MimeContent:
    """The parts of a MIME message the engine uses."""

    subject: str = ""
    sender: str = ""
    reply_to: str = ""
    to: str = ""
    message_id: str | None = None
    date: datetime | None = None
    text: str = ""
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode bytes with the declared charset when it works, else UTF-8, else Windows-1252."""
    candidates: list[str] = []
    name = (charset or "").strip().strip("\"'").lower()
    if name and name not in _WEAK_CHARSETS:
        candidates.append(name)
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            if codecs.lookup(candidate).name not in {"rot-13", "idna"}:
                return data.decode(candidate)
        except (LookupError, UnicodeError, ValueError, TypeError):
            continue
    return data.decode("latin-1")


def _decode_header(raw: object) -> str:
    text = str(raw or "")
    try:
        pieces = email.header.decode_header(text)
    except Exception:  # noqa: BLE001 - encoded words can be broken in endless ways; keep the raw text
        pieces = [(text, None)]
    decoded: list[str] = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            # Raw 8-bit header bytes arrive surrogate-escaped; give them the same charset guessing as bodies.
            chunk = chunk.encode("utf-8", "surrogateescape")
        decoded.append(decode_bytes(chunk, charset))
    # decode_header keeps the spaces around encoded words inside the chunks it returns.
    joined = "".join(decoded)
    return " ".join(joined.replace("\x00", "").split())


def _header(msg: Message, name: str) -> str:
    for key, value in msg.raw_items() if hasattr(msg, "raw_items") else msg.items():
        if key.lower() == name.lower():
            return _decode_header(value)
    return ""


def _automation_headers(msg: Message) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in msg.raw_items() if hasattr(msg, "raw_items") else msg.items():
        name = key.lower()
        if name in AUTOMATION_HEADERS and name not in found:
            found[name] = _decode_header(value)[:300]
    return found


def _part_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken base64/QP must not stop the rest of the message
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _part_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001 - a malformed Content-Type parameter is just "no charset"
        return None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001 - malformed Content-Type is read as plain text, like RFC 2045 says
        return "text/plain"


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:  # noqa: BLE001
        return False


def _forward_block(inner: MimeContent) -> str:
    head = [_FORWARD_MARKER, f"From: {inner.sender}"]
    if inner.date:
        head.append(f"Date: {inner.date.isoformat()}")
    head += [f"Subject: {inner.subject}", f"To: {inner.to}", ""]
    body = inner.text if inner.text.strip() else html_to_text(inner.html)
    return "\n".join(head) + "\n" + body


def _collect(part: Message, texts: list[str], htmls: list[str], defects: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        defects.append("message nesting too deep")
        return
    kind = _content_type(part)
    payload = part.get_payload()
    if kind.startswith("message/") and isinstance(payload, list):
        for inner in payload[:1]:
            if isinstance(inner, Message):
                texts.append(_forward_block(_read(inner, depth + 1)))
        return
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                _collect(sub, texts, htmls, defects, depth + 1)
        return
    if _is_attachment(part):
        return
    if kind.startswith("multipart/"):
        # A multipart whose declared boundary never appears arrives as one string: retry with the boundary
        # the body really uses, else read it as text rather than lose it.
        defects.append("multipart body without usable boundary")
        boundary = _BODY_BOUNDARY.search(payload if isinstance(payload, str) else "")
        if boundary and depth < MAX_DEPTH:
            head = f'Content-Type: {kind}; boundary="{boundary[1]}"\n\n'.encode("ascii", "replace")
            retried = email.message_from_bytes(head + _part_bytes(part), policy=email.policy.compat32)
            if isinstance(retried.get_payload(), list):
                _collect(retried, texts, htmls, defects, depth + 1)
                return
        kind = "text/plain"
    if kind not in {"text/plain", "text/html"}:
        return
    text = decode_bytes(_part_bytes(part), _part_charset(part))
    (texts if kind == "text/plain" else htmls).append(text)


def normalise_newlines(text: str) -> str:
    """Text with LF line ends only: mail transport (and n8n) hands text on with CRLF, parsing expects LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean_body(parts: list[str]) -> str:
    return normalise_newlines("\n".join(parts).replace("\x00", ""))[:MAX_BODY_CHARS]


def has_mail_headers(raw: bytes) -> bool:
    """Whether raw bytes start with a mail header block (a body handed on without its headers does not)."""
    try:
        head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        names = {name.lower() for name in head}
    except Exception:  # noqa: BLE001 - unreadable as a message at all: read leniently later, as before
        return True
    return bool(names & _MAIL_HEADERS)


def _read(msg: Message, depth: int) -> MimeContent:
    content = MimeContent(
        subject=_header(msg, "Subject"),
        sender=_header(msg, "From"),
        reply_to=_header(msg, "Reply-To"),
        to=_header(msg, "To"),
        message_id=_header(msg, "Message-ID") or None,
        headers=_automation_headers(msg),
    )
    try:
        content.date = email.utils.parsedate_to_datetime(_header(msg, "Date"))
    except Exception:  # noqa: BLE001 - any unreadable date is simply unknown
        content.date = None
    texts: list[str] = []
    htmls: list[str] = []
    try:
        _collect(msg, texts, htmls, content.defects, depth)
    except RecursionError:
        content.defects.append("message nesting too deep")
    content.text = _clean_body(texts)
    content.html = _clean_body(htmls)
    content.defects += [type(defect).__name__ for defect in getattr(msg, "defects", [])]
    return content


def _too_many_parts(raw: bytes) -> bool:
    # Counting the words in lower-cased bytes bounds the marks from above, and is a hundred times cheaper than
    # the case-blind pattern; only a message with that many words is counted exactly.
    lowered = raw.lower()
    if lowered.count(b"content-type:") + lowered.count(b"boundary") <= 2 * MAX_PARTS:
        return False
    return sum(1 for _ in itertools.islice(_PART_MARKS.finditer(lowered), 2 * MAX_PARTS + 1)) > 2 * MAX_PARTS


def read_message(raw: bytes) -> MimeContent:
    """Decode a raw message; never raises, returns what could be read."""
    if _too_many_parts(raw):
        return _headers_only(raw)
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        return _read(msg, 0)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is lenient, but a lead must never be lost
        return MimeContent(text=_clean_body([decode_bytes(raw, None)]), defects=[f"unreadable: {exc!r}"])


def _headers_only(raw: bytes) -> MimeContent:
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        content = MimeContent(
            subject=_header(msg, "Subject"), sender=_header(msg, "From"), reply_to=_header(msg, "Reply-To"),
            to=_header(msg, "To"), message_id=_header(msg, "Message-ID") or None, headers=_automation_headers(msg),
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - a lead must never be lost: the raw bytes stay stored either way
        content = MimeContent()
    content.defects.append(f"{TOO_COMPLEX}: more than {MAX_PARTS} MIME parts; only its headers were read")
    return content


def email_input_from_mime(raw: bytes, *, source: str = "email") -> InboundEmail:
    """Turn raw RFC 822 bytes into the parser's input; never raises."""
    content = read_message(raw)
    extra: dict[str, object] = {}
    if content.reply_to:
        extra["reply_to"] = content.reply_to
    if content.to:
        extra["to"] = content.to
    if content.defects:
        extra["mime_defects"] = sorted(set(content.defects))
    return InboundEmail(
        source=source,
        subject=content.subject,
        sender=content.sender,
        text=content.text,
        html=content.html,
        message_id=content.message_id,
        received_at=content.date,
        raw_mime=raw,
        headers=content.headers,
        extra=extra,
    )


def as_eml(inbound: InboundEmail, *, sender: str | None, subject: str | None, received_at: datetime) -> bytes:
    """The mail as an .eml file: the raw MIME as received, or one made of what the API was sent (sender and
    subject as stored when the e-mail lacks them)."""
    if inbound.raw_mime:
        return inbound.raw_mime
    message = EmailMessage(policy=email_policy.SMTP)
    for name, value in (("From", inbound.sender or sender), ("Subject", inbound.subject or subject)):
        if value and (value := " ".join(value.split())):  # one line: no header can be smuggled in
            message[name] = value
    message["Date"] = email.utils.format_datetime(inbound.received_at or received_at)
    message.set_content(inbound.text or "")
    if inbound.html.strip():
        message.add_alternative(inbound.html, subtype="html")
    return message.as_bytes()
