"""A receiver standing in for Slack and n8n: records every POST and fails on demand."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse


@dataclass
class Delivery:
    """One POST as received: path, headers (lower-case names), raw body and its JSON."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class SinkState:
    """What arrived, the failures to answer with, and how long each answer takes."""

    deliveries: list[Delivery] = field(default_factory=list)
    attempts: list[Delivery] = field(default_factory=list)  # every POST, answered with success or not
    failures: int = 0
    failure_status: int = 503
    down: bool = False
    delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` POSTs answer ``status``."""
        with self._lock:
            self.failures, self.failure_status = count, status

    def on(self, path: str) -> list[Delivery]:
        """The successful deliveries to one path."""
        with self._lock:
            return [delivery for delivery in self.deliveries if delivery.path == path]


def create_sink_app(state: SinkState) -> FastAPI:
    """The sink's ASGI app; every path accepts POSTs."""
    app = FastAPI()

    @app.post("/{path:path}")
    async def receive(path: str, request: Request) -> PlainTextResponse:
        body = await request.body()
        if state.delay:
            await asyncio.sleep(state.delay)
        # Like n8n's "webhook is not registered", a failure quotes the URL it was sent to.
        failure = f"failing: {request.method} {request.url.path}?{request.url.query}"
        with state._lock:
            state.attempts.append(Delivery(f"/{path}", dict(request.headers), body))
            if state.down:
                return PlainTextResponse(failure, status_code=state.failure_status)
            if state.failures > 0:
                state.failures -= 1
                return PlainTextResponse(failure, status_code=state.failure_status)
            state.deliveries.append(Delivery(f"/{path}", dict(request.headers), body))
        return PlainTextResponse("ok")

    return app
