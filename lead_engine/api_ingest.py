"""``POST /api/ingest`` as a plain ASGI handler: the hot path of the API, served in front of FastAPI.

FastAPI's middleware stack and routing cost about as much CPU per request as the whole durable write
(docs/BENCHMARKS.md), so the one endpoint n8n calls at volume skips them; every other route is FastAPI's.
This module maps the engine's errors to status codes for the whole API (api.py uses the same table).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers

from lead_engine.core.errors import (
    BadRequestError,
    ConflictError,
    IngestUnavailableError,
    LeadEngineError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from lead_engine.core.inbound import JSON_TYPES, check_request_keys, media_type, prepare_ingest
from lead_engine.core.ingest_writer import IngestWriter
from lead_engine.core.settings import Settings
from lead_engine.core.webhooks import authorize

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

INGEST_PATH = "/api/ingest"
# JSON bodies up to this size are read on the event loop (n8n's, mostly); MIME and bigger ones in _READERS.
INLINE_BYTES = 64 * 1024
_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest-read")
RETRY_AFTER = "5"
STATUS_CODES: dict[type[LeadEngineError], int] = {
    BadRequestError: 400,
    UnauthorizedError: 401,
    NotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    UnsupportedMediaTypeError: 415,
    UnprocessableError: 422,
    IngestUnavailableError: 503,
}
ERROR_HEADERS: dict[int, dict[str, str]] = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": RETRY_AFTER}}


INGEST_FIELDS = ("source", "subject", "raw_body", "html_body", "sender", "message_id", "received_at", "raw_mime_b64")
_OUTCOME = {
    "type": "object",
    "properties": {"lead_id": {"type": "string"}, "status": {"type": "string"}, "duplicate": {"type": "boolean"}},
}
_REASON = {"type": "object", "properties": {"detail": {"type": "string"}}}
INGEST_OPERATION: dict[str, Any] = {
    "summary": "Ingest",
    "description": "Store an inbound e-mail durably (JSON or message/rfc822); answered once it is committed.",
    "operationId": "ingest",
    # The bearer token, or a Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature).
    "security": [{"HTTPBearer": []}, {}],
    "parameters": [
        {
            "name": "source",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "source of a message/rfc822 body (a JSON body names its own)",
        },
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}},
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in INGEST_FIELDS},
                    "additionalProperties": True,
                }
            },
            "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {
        "202": {"description": "stored as a new lead", "content": {"application/json": {"schema": _OUTCOME}}},
        "200": {"description": "a repeat of a stored lead", "content": {"application/json": {"schema": _OUTCOME}}},
        **{
            code: {"description": text, "content": {"application/json": {"schema": _REASON}}}
            for code, text in (
                ("400", "an Idempotency-Key or webhook-id over 255 characters"),
                ("401", "no valid bearer token or webhook signature"),
                ("413", "body over the size limit"),
                ("415", "neither JSON nor message/rfc822"),
                ("422", "unreadable, nothing to parse, or a reused Idempotency-Key"),
                ("503", "not stored now; retry after Retry-After seconds"),
            )
        },
    },
}


def status_code(error: LeadEngineError) -> int:
    """The HTTP status of an engine error."""
    return next((code for kind, code in STATUS_CODES.items() if isinstance(error, kind)), 500)


def is_ingest(scope: Scope) -> bool:
    """Whether an ASGI scope is a request to the ingest endpoint (a trailing slash is the same endpoint)."""
    return scope["type"] == "http" and scope["path"].rstrip("/") == INGEST_PATH


async def read_limited_body(receive: Receive, limit: int, declared: str) -> bytes | None:
    """The request body, refusing more than ``limit`` bytes while it streams in; None if the client left."""
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {declared} bytes is over the {limit} byte limit")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body is over the {limit} byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": code, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _store(settings: Settings, writer: IngestWriter, scope: Scope, receive: Receive) -> dict[str, Any] | None:
    headers = Headers(scope=scope)
    # Only a signature that can be checked is a reason to read the body before knowing who sent it.
    signed = bool(headers.get("webhook-signature")) and settings.webhook_secret is not None
    if not signed:
        authorize(settings, headers)  # before reading: an unauthenticated body is never read
    check_request_keys(headers.get("idempotency-key"), headers.get("webhook-id"))
    body = await read_limited_body(receive, settings.max_body_bytes, headers.get("content-length", ""))
    if body is None:
        return None
    if signed:
        authorize(settings, headers, body)
    query = scope.get("query_string", b"")
    source = parse_qs(query.decode("latin-1")).get("source", [None])[0] if query else None
    read = functools.partial(
        prepare_ingest,
        headers.get("content-type", ""),
        body,
        idempotency_key=headers.get("idempotency-key"),
        webhook_id=headers.get("webhook-id"),
        source=source,
    )
    try:
        if len(body) <= INLINE_BYTES and media_type(headers.get("content-type")) in JSON_TYPES:
            item = read()  # n8n's small JSON: cheaper to read here than to hand to a thread
        else:
            # MIME decoding and big bodies: off the event loop, a few at a time.
            item = await asyncio.get_running_loop().run_in_executor(_READERS, read)
    except LeadEngineError:
        raise
    except Exception as exc:  # a reader bug: this request is refused with a reason, the API carries on
        logger.exception("ingest request unreadable", extra={"action": "api.ingest_unreadable"})
        raise UnprocessableError(f"the request could not be read ({type(exc).__name__}); nothing was stored") from exc
    outcome = await writer.submit(item)
    return {"lead_id": outcome.lead_id, "status": outcome.status, "duplicate": outcome.duplicate}


async def handle_ingest(settings: Settings, writer: IngestWriter, scope: Scope, receive: Receive, send: Send) -> None:
    """Store an inbound e-mail durably (JSON or message/rfc822) and answer once it is committed."""
    if scope["method"] != "POST":
        await _respond(send, 405, {"detail": "Method Not Allowed"}, {"Allow": "POST"})
        return
    try:
        stored = await _store(settings, writer, scope, receive)
    except LeadEngineError as exc:
        code = status_code(exc)
        await _respond(send, code, {"detail": str(exc)}, ERROR_HEADERS.get(code))
        return
    except Exception:  # the outermost handler of this route: a bug is logged and answered, never a dropped socket
        logger.exception("ingest request failed", extra={"action": "api.ingest_failed"})
        await _respond(send, 500, {"detail": "Internal Server Error"})
        return
    if stored is not None:
        await _respond(send, 200 if stored["duplicate"] else 202, stored)
