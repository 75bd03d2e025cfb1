"""Turning an inbound request body (JSON or RFC 822) into an e-mail and its idempotency keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any, NamedTuple

from lead_engine.core.errors import BadRequestError, UnprocessableError, UnsupportedMediaTypeError
from lead_engine.core.lead_fields import AUTOMATION_HEADERS, InboundEmail
from lead_engine.core.mime import email_input_from_mime, has_mail_headers, normalise_newlines

JSON_TYPES = ("application/json",)
MIME_TYPES = ("message/rfc822",)
# n8n's Email Trigger names the same things differently in its "Simple" (textPlain, textHtml) and
# "Resolved" (text, html, messageId) formats; both are read, whichever a workflow passes on.
ALIASES: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "subject": ("subject",),
    "raw_body": ("raw_body", "body", "text", "textPlain"),
    "html_body": ("html_body", "html", "textHtml"),
    "sender": ("sender", "from"),
    "message_id": ("message_id", "messageId"),
    "reply_to": ("reply_to", "replyTo"),
    "received_at": ("received_at",),
    "raw_mime_b64": ("raw_mime_b64",),
}
KNOWN_KEYS = frozenset(alias for names in ALIASES.values() for alias in names)
NO_TEXT = (
    "nothing to parse: the request carries no mail text. Send raw_body (n8n: textPlain or text), "
    "html_body (n8n: textHtml or html) or raw_mime_b64"
)
NO_HEADERS = (
    "message/rfc822 body has no mail headers (From, Subject, Date…): send the whole message, or JSON fields "
    "(n8n's Email Trigger in its Simple or Resolved format, not Raw)"
)


class PreparedIngest(NamedTuple):
    """A request read and checked, ready to be stored: what the lead row needs, its keys and the raw bytes.

    A plain tuple on the way to the ingest writer process (it pickles several times faster).
    """

    source: str
    subject: str
    sender: str
    received_at: datetime | None
    content_type: str
    body: bytes
    # The parsed request a repeat must match, and (for keys stored before requests were compared parsed) its bytes.
    request_hash: str
    body_hash: str
    keys: tuple[str, ...]
    idempotency_key: str | None
    request_headers: dict[str, str]
    channel: str


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower-cased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _text(payload: dict[str, Any], name: str) -> str | None:
    for alias in ALIASES[name]:
        value = payload.get(alias)
        # n8n sends `false` for a missing HTML part, and expressions can give null or "": all mean "not given".
        if value is None or value is False or value == "":
            continue
        if name in {"sender", "reply_to"} and isinstance(value, dict):
            # n8n's e-mail nodes give {"text": "Name <a@b>", "value": [{"address": …}]}.
            addresses: list[dict[str, Any]] = value.get("value") or []
            value = value.get("text") or next(iter(addresses), {}).get("address")
        if not isinstance(value, str):
            raise UnprocessableError(f"field '{alias}' must be a string, got {type(value).__name__}")
        if "\x00" in value:
            raise UnprocessableError(f"field '{alias}' contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UnprocessableError(f"field '{alias}' contains invalid Unicode (a lone surrogate)") from exc
        return value
    return None


def _header_field(payload: dict[str, Any], name: str, header: str) -> str | None:
    found = _text(payload, name)
    metadata = payload.get("metadata")
    if found is None and isinstance(metadata, dict):
        # n8n's Simple format keeps the Message-ID, Reply-To and other headers in `metadata`.
        found = _text({name: metadata.get(header)}, name)
    return found


def _automation_headers(payload: dict[str, Any]) -> dict[str, str]:
    # n8n hands headers on as `metadata` (Simple format) or `headers` (Resolved); other senders as either.
    found: dict[str, str] = {}
    for key in ("headers", "metadata"):
        given = payload.get(key)
        if isinstance(given, dict):
            for name, value in given.items():
                name = str(name).lower()
                if isinstance(value, dict):  # mailparser's structured form: {"value": …, "params": {…}}
                    params = value.get("params")
                    pairs = [f"{k}={v}" for k, v in params.items()] if isinstance(params, dict) else []
                    value = "; ".join([str(value.get("value", "")), *pairs])
                if name in AUTOMATION_HEADERS and name not in found and isinstance(value, str | int | float):
                    text = str(value)
                    # The Resolved format gives whole header lines ("Auto-Submitted: auto-replied").
                    if text.lower().startswith(name + ":"):
                        text = text[len(name) + 1 :].strip()
                    found[name] = text[:300]
    return found


def _parse_date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        pass
    try:  # RFC 2822, as a Date header has it (n8n's Simple format passes the header on as it is)
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _received_at(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = _parse_date(value)
    if parsed is None:
        raise UnprocessableError(
            f"field 'received_at' is not a date (ISO 8601 or RFC 2822, as in a Date header): {value[:40]!r}"
        )
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if _in_utc(parsed) is None:
        raise UnprocessableError(f"field 'received_at' is out of range: {value[:40]!r}")
    return parsed


def _in_utc(value: datetime) -> datetime | None:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01 at +05:00 lies before year 1 in UTC
        return None


def _valid_text(value: str) -> str:
    # Headers with raw 8-bit bytes come back from the email package with surrogate escapes,
    # which neither the databases nor the hash can encode.
    return value.encode("utf-8", "replace").decode("utf-8")


def _from_mime(raw: bytes, source: str, strict: bool) -> InboundEmail:
    if strict and not has_mail_headers(raw):
        raise UnprocessableError(NO_HEADERS)
    email = email_input_from_mime(raw, source=source[:64] or "email")
    email.subject, email.sender = _valid_text(email.subject), _valid_text(email.sender)
    email.text, email.html = _valid_text(email.text), _valid_text(email.html)
    email.message_id = _valid_text(email.message_id) if email.message_id else None
    if email.received_at is not None and _in_utc(email.received_at) is None:
        email.received_at = None
    return email


def _email_from_json(body: bytes, strict: bool) -> InboundEmail:
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnprocessableError(f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        payload = json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise UnprocessableError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(payload, dict):
        raise UnprocessableError(f"body must be a JSON object, got {type(payload).__name__}")
    source = (_text(payload, "source") or "email").strip()[:64] or "email"
    mime_b64 = _text(payload, "raw_mime_b64")
    if mime_b64:
        try:
            raw = base64.b64decode("".join(mime_b64.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UnprocessableError("field 'raw_mime_b64' is not valid base64") from exc
        if not raw.strip():
            raise UnprocessableError("field 'raw_mime_b64' holds an empty message")
        email = _from_mime(raw, source, strict)
    else:
        email = InboundEmail(
            source=source,
            subject=_text(payload, "subject") or "",
            sender=_text(payload, "sender") or "",
            text=normalise_newlines(_text(payload, "raw_body") or ""),
            html=normalise_newlines(_text(payload, "html_body") or ""),
            message_id=_header_field(payload, "message_id", "message-id"),
            received_at=_received_at(_text(payload, "received_at")),
        )
        if strict and not (email.text.strip() or email.html.strip()):
            given = ", ".join(sorted(key for key, value in payload.items() if value not in (None, False, "")))
            raise UnprocessableError(f"{NO_TEXT}; the request had: {given[:200] or 'no fields'}")
    email.extra.update({key: value for key, value in payload.items() if key not in KNOWN_KEYS})
    if not email.headers:
        email.headers = _automation_headers(payload)
    reply_to = _header_field(payload, "reply_to", "reply-to")
    if reply_to and "reply_to" not in email.extra:
        # A contact form's visitor is often only in Reply-To: the From is the site's own mailer.
        email.extra["reply_to"] = reply_to
    return email


def read_inbound(content_type: str, body: bytes, *, source: str | None = None, strict: bool = False) -> InboundEmail:
    """The e-mail carried by a request body; raises a LeadEngineError saying what is wrong.

    ``strict`` is the intake's check: no mail text in JSON, or no header block in a message, is refused then
    (a mapping mistake the sender should see); requests stored before are still read as they were.
    """
    kind = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        return _email_from_json(body, strict)
    if kind in MIME_TYPES:
        if not body.strip():
            raise UnprocessableError("empty message/rfc822 body")
        return _from_mime(body, source or "email", strict)
    raise UnsupportedMediaTypeError(
        f"unsupported content type {kind or '(none)'!r}: send application/json or message/rfc822"
    )


def _normalised(value: str) -> str:
    # Same result as collapsing r"\s+" to one space and stripping (split() knows the same whitespace), faster.
    return " ".join(value.split()).casefold()


def content_hash(email: InboundEmail) -> str:
    """A hash of the normalised (source, sender, subject, body): the same e-mail re-sent matches it."""
    sender = parseaddr(email.sender)[1] or email.sender
    parts = (email.source, sender, email.subject, email.text or email.html)
    return hashlib.sha256("\n".join(_normalised(part) for part in parts).encode()).hexdigest()


# Stripe's limit: a longer key is refused, never cut (two keys with a common prefix would collide).
MAX_KEY_LENGTH = 255


def check_request_keys(idempotency_key: str | None, webhook_id: str | None) -> None:
    """BadRequestError when the caller's Idempotency-Key or webhook-id is longer than 255 characters."""
    for name, value in (("Idempotency-Key", idempotency_key), ("webhook-id", webhook_id)):
        if value is not None and len(value.strip()) > MAX_KEY_LENGTH:
            raise BadRequestError(
                f"{name} is {len(value.strip())} characters long; at most {MAX_KEY_LENGTH} are allowed"
            )


def message_id_key(message_id: str) -> str | None:
    """The idempotency key a Message-ID is stored under (a long one by its hash), or None for an empty one."""
    bare = message_id.strip("<> ")
    if len(bare) > MAX_KEY_LENGTH:
        bare = "sha256:" + hashlib.sha256(bare.encode("utf-8", "surrogatepass")).hexdigest()
    return f"msgid:{bare}" if bare else None


def request_hash(content_type: str, body: bytes) -> str:
    """What a repeat under the same Idempotency-Key must match: the parsed JSON (whatever its key order or
    spacing), else the bytes."""
    kind = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except ValueError:
            pass
        else:
            return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return hashlib.sha256(body).hexdigest()


def prepare_ingest(
    content_type: str,
    body: bytes,
    *,
    idempotency_key: str | None = None,
    webhook_id: str | None = None,
    source: str | None = None,
    channel: str = "api",
) -> PreparedIngest:
    """Read a request and list its idempotency keys in the order the contract gives.

    ``channel`` names what delivered it (the API or the IMAP poller) in the lead's audit trail.
    """
    email = read_inbound(content_type, body, source=source, strict=True)
    return prepare_email(
        email, content_type, body, idempotency_key=idempotency_key, webhook_id=webhook_id, channel=channel
    )


def prepare_email(
    email: InboundEmail,
    content_type: str,
    body: bytes,
    *,
    idempotency_key: str | None = None,
    webhook_id: str | None = None,
    channel: str = "api",
) -> PreparedIngest:
    """An e-mail already read from ``body`` (strictly, see ``read_inbound``), ready to store with its keys."""
    if not (email.subject.strip() or email.text.strip() or email.html.strip()):
        raise UnprocessableError("nothing to parse: the message has no subject, text or HTML")
    check_request_keys(idempotency_key, webhook_id)
    keys: list[str] = []
    idem = f"idem:{idempotency_key.strip()}" if idempotency_key and idempotency_key.strip() else None
    if idem:
        keys.append(idem)
    if webhook_id and webhook_id.strip():
        keys.append(f"webhook:{webhook_id.strip()}")
    if email.message_id and (msgid := message_id_key(email.message_id)):
        keys.append(msgid)
    keys.append(f"hash:{content_hash(email)}")
    headers = {"idempotency-key": idempotency_key or "", "webhook-id": webhook_id or ""}
    body_hash = hashlib.sha256(body).hexdigest()
    return PreparedIngest(
        source=email.source,
        subject=email.subject,
        sender=email.sender,
        received_at=email.received_at,
        content_type=media_type(content_type)[:255],
        body=body,
        # Only the Idempotency-Key is stored with a hash to compare: without one, reading the JSON again is waste.
        request_hash=request_hash(content_type, body) if idem else body_hash,
        body_hash=body_hash,
        keys=tuple(dict.fromkeys(keys)),
        idempotency_key=idem,
        request_headers={name: value for name, value in headers.items() if value},
        channel=channel,
    )
