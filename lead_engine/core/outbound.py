"""Outbound HTTP only to the services the operator configured: no lead, reply or answer can point it elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import httpx

from lead_engine.core.errors import PermanentError
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


class OutboundRefusedError(PermanentError):
    """A request to a host that is not one of the configured services; it was never sent."""


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The hosts of the configured Company Explorer, Slack webhook, n8n callback and LLM endpoint."""
    llm = settings.openai_base_url or (OPENAI_DEFAULT_URL if settings.openai_api_key else None)
    urls = (settings.company_explorer_url, settings.slack_webhook_url, settings.n8n_callback_url, llm)
    hosts = set()
    for url in urls:
        try:
            host = httpx.URL(url).host if url else ""
        except httpx.InvalidURL:
            host = ""
        if host:
            hosts.add(host.lower())
    return frozenset(hosts)


def host_guard(hosts: frozenset[str]) -> Callable[[Any], None]:
    """An httpx request hook that refuses every host but these (for httpx and openai's own httpx alike)."""

    def check(request: Any) -> None:
        host = request.url.host.lower()
        if host not in hosts:
            logger.error("outbound request refused", extra={"action": "outbound.refused", "host": host[:200]})
            raise OutboundRefusedError(f"refused to call {host[:200]}: it is not a configured service")

    return check


@lru_cache(maxsize=16)
def _client(timeout: float, hosts: frozenset[str], pool: int) -> httpx.Client:
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    return httpx.Client(timeout=httpx.Timeout(timeout), limits=limits, event_hooks={"request": [host_guard(hosts)]})


def outbound_http(settings: Settings, *, timeout: float, pool: int = 64) -> httpx.Client:
    """The process's shared client for outside calls with this timeout, limited to the configured hosts."""
    return _client(timeout, allowed_hosts(settings), pool)
