"""Baseline endpoints the ingest benchmark measures ours against, served by the same uvicorn."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

bare_app = FastAPI()
naive_app = FastAPI()
_local = threading.local()


def _read_object(body: bytes) -> dict[str, object] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


@bare_app.post("/api/ingest")
async def bare_ingest(request: Request) -> Response:
    """Validate the JSON object and answer 202: no storage at all."""
    if _read_object(await request.body()) is None:
        return Response(b'{"detail": "bad"}', status_code=422)
    return Response(b'{"status": "accepted"}', status_code=202, media_type="application/json")


async def bare_asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same check as bare_app as a plain ASGI app: no framework at all, the floor of the HTTP server."""
    if scope["type"] != "http":
        return
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    ok = _read_object(b"".join(chunks)) is not None
    body = b'{"status": "accepted"}' if ok else b'{"detail": "bad"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 202 if ok else 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _connection() -> sqlite3.Connection:
    if not hasattr(_local, "connection"):
        connection = sqlite3.connect(os.environ["BENCH_NAIVE_DB"], timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        _local.connection = connection
    return _local.connection  # type: ignore[no-any-return]


@naive_app.post("/api/ingest")
async def naive_durable_ingest(request: Request) -> Response:
    """One INSERT and one COMMIT per request (WAL, synchronous=FULL), in the thread pool."""
    body = await request.body()
    if _read_object(body) is None:
        return Response(b'{"detail": "bad"}', status_code=422)

    def store() -> None:
        connection = _connection()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO raw (body) VALUES (?)", (body,))
        connection.execute("COMMIT")

    await run_in_threadpool(store)
    return Response(b'{"status": "stored"}', status_code=202, media_type="application/json")
