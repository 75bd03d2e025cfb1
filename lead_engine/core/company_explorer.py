"""The Company Explorer client, and where outbound HTTP failures become retryable or permanent errors."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from lead_engine.core.errors import PermanentError, RetryableError
from lead_engine.core.outbound import host_guard
from lead_engine.core.settings import Settings

# Answers that a later attempt may not get; every other 4xx is final (see CONTRACT.md).
RETRYABLE_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "lead-engine"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date); None when absent or bad."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _target(url: httpx.URL, *, reveal_path: bool) -> str:
    # A webhook's path and query often are its secret (Slack: /services/T…/B…/<secret>), as user info always is.
    if reveal_path:
        return url.path
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}" + (f":{url.port}" if url.port else "")


def _redact(text: str, url: httpx.URL, *, reveal_path: bool) -> str:
    """``text`` without the parts of a secret URL, for an answer or error that may quote the URL (n8n's 404 does)."""
    if reveal_path:
        return text
    raw_path = url.raw_path.decode(errors="replace")
    secrets = [url.userinfo.decode(errors="replace"), raw_path, url.path, url.query.decode(errors="replace")]
    secrets += [*url.path.split("/"), *raw_path.split("?")[0].split("/")]
    secrets += [value for _name, value in url.params.multi_items()]
    for secret in sorted({part for part in secrets if len(part) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _said(response: httpx.Response) -> str:
    """What an error answer says: the message of a JSON error body (``detail``, ``message``, ``error``), else its
    text."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text.startswith("{") else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        for name in ("detail", "message", "error", "title"):
            if isinstance(body.get(name), str) and body[name].strip():
                return str(body[name]).strip()
    return " ".join(text.split())


def _describe(response: httpx.Response, *, reveal_path: bool = True) -> str:
    """``POST /api/companies answered 400 Bad Request: name is required``; without a body, no colon."""
    url = response.request.url
    said = _redact(_said(response), url, reveal_path=reveal_path)[:300]
    status = f"{response.status_code} {response.reason_phrase}".strip()
    where = _target(url, reveal_path=reveal_path)
    return f"{response.request.method} {where} answered {status}" + (f": {said}" if said else "")


def send_request(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    reveal_path: bool = True,
    retry_statuses: frozenset[int] = frozenset(),
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; connection errors, timeouts, 408/425/429/5xx raise RetryableError, other 4xx PermanentError.

    ``retry_statuses`` are further answers worth another try from this target. Error messages name the method
    and the path, never the query; with ``reveal_path=False`` (webhooks, whose path is a secret) only scheme,
    host and port.
    """
    target = httpx.URL(url)
    where = f"{method} {_target(target, reveal_path=reveal_path)}"
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{where} timed out: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        detail = _redact(str(exc), target, reveal_path=reveal_path)
        raise RetryableError(f"{where} failed: {type(exc).__name__}: {detail}") from exc
    status = response.status_code
    if status in RETRYABLE_STATUSES or status in retry_statuses or status >= 500:
        raise RetryableError(
            _describe(response, reveal_path=reveal_path),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if status >= 400:
        raise PermanentError(_describe(response, reveal_path=reveal_path))
    return response


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        # A proxy's error page with a 2xx, or a cut-off answer: worth another try.
        raise RetryableError(f"{_describe(response)} (not JSON)") from exc


class SyncTarget(Protocol):
    """Where leads are synced to: find or create the company, add the contact, start discovery."""

    def find_companies(self, *, domain: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """Companies matching a domain or a name."""
        ...

    def create_company(self, company: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Create a company once per key and return it."""
        ...

    def add_contact(self, company_id: str, contact: dict[str, Any], *, idempotency_key: str) -> None:
        """Add a contact to the company once per key."""
        ...

    def start_discovery(self, company_id: str, *, idempotency_key: str) -> None:
        """Ask the Company Explorer to research the company, once per key."""
        ...


def _segment(value: object) -> str:
    # An id the Company Explorer gave back stays one path segment, whatever it holds ("../x?y", a URL …).
    return quote(str(value), safe="")


class CompanyExplorerClient:
    """The Company Explorer's HTTP API (CONTRACT.md) over an injected or owned httpx client."""

    def __init__(self, base_url: str, *, token: str | None, timeout: float, http: httpx.Client | None = None) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._owned = http is None
        # Only the Company Explorer's own host, whatever ids or links its answers (or a lead) hold.
        guard = host_guard(frozenset({httpx.URL(base_url).host.lower()}))
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            event_hooks={"request": [guard]},
        )
        self._headers = headers
        self._base = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.Client | None = None) -> CompanyExplorerClient:
        """A client for the configured Company Explorer."""
        if not settings.company_explorer_url:
            raise PermanentError("sync is disabled: LEAD_ENGINE_COMPANY_EXPLORER_URL is not set")
        token = settings.company_explorer_token.get_secret_value() if settings.company_explorer_token else None
        return cls(settings.company_explorer_url, token=token, timeout=settings.company_explorer_timeout, http=http)

    def close(self) -> None:
        """Close the connections this client opened itself."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> CompanyExplorerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers, **({"Idempotency-Key": key} if key else {})}
        return send_request(self._http, method, f"{self._base}{path}", headers=headers, **kwargs)

    def find_companies(self, *, domain: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """Companies matching a domain or a name (the Company Explorer decides how loosely)."""
        params = {"domain": domain} if domain else {"name": name or ""}
        body = _json(self._send("GET", "/api/companies", params=params))
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise RetryableError("GET /api/companies answered without an items list")
        return [item for item in items if isinstance(item, dict) and item.get("id") is not None]

    def create_company(self, company: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Create the company; the same key gives back the company created the first time."""
        body = _json(self._send("POST", "/api/companies", key=idempotency_key, json=company))
        if not isinstance(body, dict) or body.get("id") is None:
            raise RetryableError("POST /api/companies answered without an id")
        return body

    def add_contact(self, company_id: str, contact: dict[str, Any], *, idempotency_key: str) -> None:
        """Add the lead's contact person to the company."""
        self._send("POST", f"/api/companies/{_segment(company_id)}/contacts", key=idempotency_key, json=contact)

    def start_discovery(self, company_id: str, *, idempotency_key: str) -> None:
        """Trigger the Company Explorer's discovery for the company; a repeat with the same key starts none."""
        self._send("POST", f"/api/companies/{_segment(company_id)}/discovery", key=idempotency_key)
