"""uvicorn's HTTP protocol with deadlines: a request's headers and its body must arrive in time, within limits.

A client that sends half a header (or a body at one byte a second) would otherwise hold its connection, and a
file descriptor, forever: enough of them and the API takes no more connections. Too slow → ``408`` and closed;
too many or too large headers → ``431`` and closed.
"""

from __future__ import annotations

import logging
from asyncio import TimerHandle
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024


class DeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that answers 408 to a request not read in time and 431 to oversized headers."""

    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: TimerHandle | None = None
        self._header_bytes = 0
        self._answered = False

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, status: bytes, message: str) -> None:
        self._disarm()
        self._answered = True
        if self.cycle is not None and not self.cycle.response_complete:
            # The app may be waiting for the rest of the body: it hears the client is gone.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not self.transport.is_closing():
            body = message.encode()
            self.transport.write(
                b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
            )
            self.transport.close()

    def _too_slow(self, what: str, seconds: float) -> None:
        self._deadline = None
        if self.cycle is not None and self.cycle.response_started:
            return  # the answer is already on its way: let it finish
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        extra = {"action": "api.request_timeout", "part": what, "client": client}
        logger.warning("request too slow, closed", extra=extra)
        self._refuse(b"408 Request Timeout", f"the request {what} did not arrive within {seconds:g} seconds")

    def connection_made(self, transport: Any) -> None:
        """A new connection must send its first request's headers in time."""
        super().connection_made(transport)
        self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        """Nothing to time any more."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Ignore whatever a refused client still sends."""
        if not self._answered:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """The parser's 400, unless this request was already answered."""
        if not self._answered:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        """A request on a kept-alive connection starts its header deadline."""
        super().on_message_begin()
        self._header_bytes = 0
        if self._deadline is None:
            self._arm(self.header_timeout, "headers")

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count headers and their size; past the limits the request is refused."""
        self._header_bytes += len(name) + len(value)
        if len(self.headers) >= MAX_HEADERS or self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(
                b"431 Request Header Fields Too Large",
                f"at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES // 1024} KiB in all",
            )
            raise ValueError("request headers over the limit")  # stops the parser; data_received swallows it
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Headers in: now the body has its own deadline."""
        super().on_headers_complete()
        self._arm(self.body_timeout, "body")

    def on_message_complete(self) -> None:
        """The whole request arrived in time."""
        self._disarm()
        super().on_message_complete()


def deadline_protocol(settings: Settings) -> type[DeadlineProtocol]:
    """The protocol class with the configured deadlines."""
    return type(
        "ConfiguredDeadlineProtocol",
        (DeadlineProtocol,),
        {"header_timeout": settings.request_header_timeout, "body_timeout": settings.request_body_timeout},
    )


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the API: deadlines on every request, no access log unless asked for."""
    return uvicorn.Config(
        app, http=deadline_protocol(settings), log_config=None, access_log=settings.access_log, **options
    )
