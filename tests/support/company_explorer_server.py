"""A Company Explorer stand-in: the contract's API over an in-memory store, with faults switched on by tests.

In a test: ``state = ExplorerState(); with serve_app(create_explorer_app(state)) as url: ...``.
As a process: ``python -m tests.support.company_explorer_server --port P [--latency 0.1] [--token T]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TOKEN = "ce-token"


@dataclass
class Fault:
    """What the next matching request gets instead of a normal answer."""

    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    """One request as the stand-in saw it."""

    method: str
    path: str
    query: dict[str, str]
    idempotency_key: str | None
    body: Any
    status: int = 0


@dataclass
class ExplorerState:
    """The store, the switchable faults and everything recorded for assertions."""

    token: str | None = TOKEN
    latency: float = 0.0
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    discoveries: Counter[str] = field(default_factory=Counter)
    requests: list[Recorded] = field(default_factory=list)
    rejected_names: dict[str, int] = field(default_factory=dict)
    hold_contacts: bool = False
    # While set, POST requests whose path ends with it wait (counted in `held`) until it is cleared.
    hold_path: str = ""
    # Each request fails with this probability (503 with this Retry-After), drawn from a seeded generator.
    fail_ratio: float = 0.0
    fail_retry_after: str = "1"
    # While set, every request answers 503 (the service is down).
    down: bool = False
    held: int = 0
    overlaps: int = 0
    _faults: deque[Fault] = field(default_factory=deque)
    _keys: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _in_flight: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(default_factory=lambda: random.Random(7))

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` requests answer ``status`` (a 5xx burst by default)."""
        self._add(count, Fault(status=status))

    def throttle_next(self, count: int, retry_after: str = "1") -> None:
        """The next ``count`` requests answer 429 with this Retry-After (seconds or an HTTP date)."""
        self._add(count, Fault(status=429, retry_after=retry_after))

    def slow_next(self, count: int, seconds: float) -> None:
        """The next ``count`` requests are answered only after ``seconds`` (but are carried out)."""
        self._add(count, Fault(status=0, delay=seconds))

    def reject_company(self, name: str, status: int = 400) -> None:
        """Creating a company of this name answers ``status``."""
        self.rejected_names[name] = status

    def _add(self, count: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    def next_fault(self) -> Fault | None:
        """Take the next queued fault, if any, or the fault of the service being down or flaky."""
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self.down or (self.fail_ratio and self._random.random() < self.fail_ratio):
                return Fault(status=503, retry_after=self.fail_retry_after)
            return None

    def count(self, method: str, path_end: str = "") -> int:
        """How many requests of a method (and path ending) were answered with a 2xx."""
        with self._lock:
            return sum(
                1 for r in self.requests if r.method == method and r.path.endswith(path_end) and 200 <= r.status < 300
            )

    def all_contacts(self) -> list[dict[str, Any]]:
        """Every stored contact of every company."""
        with self._lock:
            return [contact for contacts in self.contacts.values() for contact in contacts]


def _search(state: ExplorerState, query: dict[str, str]) -> list[dict[str, Any]]:
    if query.get("domain"):
        wanted = query["domain"].lower()
        return [c for c in state.companies.values() if (c.get("domain") or "").lower() == wanted]
    words = [word for word in (query.get("name") or "").casefold().split() if len(word) >= 3]
    return [c for c in state.companies.values() if words and any(w in c["name"].casefold() for w in words)]


def _create_company(state: ExplorerState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if not body.get("name"):
        return 422, {"detail": "name is required"}
    if body["name"] in state.rejected_names:
        return state.rejected_names[body["name"]], {"detail": f"company {body['name']!r} is not accepted"}
    company = {**body, "id": str(len(state.companies) + 1)}
    state.companies[company["id"]] = company
    return 201, company


def _add_contact(state: ExplorerState, company_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if company_id not in state.companies:
        return 404, {"detail": "no such company"}
    contact = {**body, "id": f"{company_id}-{len(state.contacts.get(company_id, [])) + 1}", "company_id": company_id}
    state.contacts.setdefault(company_id, []).append(contact)
    return 201, contact


def _handle(
    state: ExplorerState, method: str, path: str, key: str | None, query: dict[str, str], body: Any
) -> tuple[int, Any]:
    # Runs without awaiting in between, so it is atomic on the event loop: a key is stored before a repeat is read.
    if key and key in state._keys:
        return state._keys[key]
    parts = path.strip("/").split("/")
    if method == "GET" and parts == ["api", "companies"]:
        return 200, {"items": _search(state, query)}
    if method == "POST" and parts == ["api", "companies"]:
        answer = _create_company(state, body or {})
    elif method == "POST" and len(parts) == 4 and parts[3] == "contacts":
        answer = _add_contact(state, parts[2], body or {})
    elif method == "POST" and len(parts) == 4 and parts[3] == "discovery":
        if parts[2] not in state.companies:
            return 404, {"detail": "no such company"}
        state.discoveries[parts[2]] += 1
        answer = (202, {"status": "started"})
    else:
        return 404, {"detail": "not found"}
    if key and 200 <= answer[0] < 300:
        state._keys[key] = answer
    return answer


def create_explorer_app(state: ExplorerState) -> FastAPI:
    """The stand-in's ASGI app, serving ``state``."""
    app = FastAPI()

    @app.get("/_stats")
    def stats() -> dict[str, int]:
        """Counts for a benchmark or test driving the stand-in in another process."""
        with state._lock:
            failed = sum(1 for r in state.requests if r.status >= 500)
            requests = len(state.requests)
        return {
            "companies": len(state.companies),
            "contacts": len(state.all_contacts()),
            "discoveries": sum(state.discoveries.values()),
            "companies_discovered_twice": sum(1 for count in state.discoveries.values() if count > 1),
            "overlaps": state.overlaps,
            "requests": requests,
            "failed": failed,
        }

    @app.post("/_control")
    async def control(request: Request) -> dict[str, bool]:
        """Switch the outage on or off: ``{"down": true}``."""
        state.down = bool((await request.json()).get("down"))
        return {"down": state.down}

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def everything(path: str, request: Request) -> JSONResponse:
        raw = await request.body()
        body = await request.json() if raw else None
        key = request.headers.get("idempotency-key")
        record = Recorded(request.method, f"/{path}", dict(request.query_params), key, body)
        with state._lock:
            state.requests.append(record)
        if state.token and request.headers.get("authorization") != f"Bearer {state.token}":
            record.status = 401
            return JSONResponse({"detail": "bad token"}, status_code=401)
        # Only one attempt of a lead's job may be under way: the contact key is the job's own.
        watched = key if key and path.endswith("/contacts") else None
        if watched:
            with state._lock:
                state.overlaps += state._in_flight[watched] > 0
                state._in_flight[watched] += 1
        try:
            if state.latency:
                await asyncio.sleep(state.latency)
            fault = state.next_fault()
            if fault and fault.delay:
                await asyncio.sleep(fault.delay)
            elif fault:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                record.status = fault.status
                return JSONResponse({"detail": "injected fault"}, status_code=fault.status, headers=headers)
            if watched and state.hold_contacts:
                state.held += 1
                while state.hold_contacts:
                    await asyncio.sleep(0.02)
            if state.hold_path and request.method == "POST" and f"/{path}".endswith(state.hold_path):
                state.held += 1
                while state.hold_path:
                    await asyncio.sleep(0.02)
            with state._lock:
                record.status, answer = _handle(state, request.method, f"/{path}", key, record.query, body)
            return JSONResponse(answer, status_code=record.status)
        finally:
            if watched:
                with state._lock:
                    state._in_flight[watched] -= 1

    return app


def main() -> None:
    """Serve the stand-in in this process until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--fail-ratio", type=float, default=0.0, help="share of requests answered 503")
    parser.add_argument("--fail-retry-after", default="1", help="the Retry-After of those 503s")
    args = parser.parse_args()
    state = ExplorerState(
        token=args.token, latency=args.latency, fail_ratio=args.fail_ratio, fail_retry_after=args.fail_retry_after
    )
    uvicorn.run(create_explorer_app(state), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
