"""The ingest API served from a background thread of the UI process (an edge: it starts the API by name)."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass

import uvicorn

from lead_engine.core.settings import Settings
from lead_engine.http_deadlines import server_config

logger = logging.getLogger(__name__)

APP_FACTORY = "lead_engine.api:app_factory"
_lock = threading.Lock()
_state: EmbeddedApi | None = None


@dataclass(frozen=True)
class EmbeddedApi:
    """Whether the embedded API runs in this process, and where or why not."""

    running: bool
    message: str
    url: str | None = None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def start_embedded_api(settings: Settings) -> EmbeddedApi:
    """Serve the API on ``host:api_port`` from a daemon thread; later calls return the first outcome."""
    global _state
    with _lock:
        if _state is not None:
            return _state
        if not settings.embedded_api:
            _state = EmbeddedApi(False, "off (LEAD_ENGINE_EMBEDDED_API=false): the API runs as its own process")
            return _state
        try:
            # Binding here, not in the thread, turns a taken port into a message instead of a dead thread.
            sock = _bind(settings.host, settings.api_port)
        except OSError as exc:
            message = f"not started: port {settings.api_port} on {settings.host} is not available ({exc.strerror})"
            logger.warning(message, extra={"action": "ui.embedded_api_failed", "port": settings.api_port})
            _state = EmbeddedApi(False, message)
            return _state
        config = server_config(APP_FACTORY, settings, factory=True, lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="embedded-api", daemon=True)
        thread.start()
        url = f"http://{settings.host}:{settings.api_port}"
        logger.info("embedded api started", extra={"action": "ui.embedded_api_started", "url": url})
        _state = EmbeddedApi(True, f"running in this process at {url}", url)
        return _state
