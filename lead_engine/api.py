"""The HTTP API: durable ingest for n8n and the IMAP poller, and reading/operating leads."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, InterfaceError, OperationalError, StatementError

from lead_engine import __version__
from lead_engine.api_approvals import router as approvals_router
from lead_engine.api_deps import NO_NUL, Actor, LeadId, Moment, ReadDep, SettingsDep, Version, WriteDep, app_engine
from lead_engine.api_imports import router as imports_router
from lead_engine.api_ingest import (
    ERROR_HEADERS,
    INGEST_OPERATION,
    INGEST_PATH,
    handle_ingest,
    is_ingest,
    status_code,
)
from lead_engine.core.db import get_engine, read_session, run_migrations
from lead_engine.core.errors import FieldErrors, LeadEngineError
from lead_engine.core.health import WriteCheck, database_reachable
from lead_engine.core.ingest import UNAVAILABLE
from lead_engine.core.ingest_writer import IngestWriter
from lead_engine.core.leads import (
    ORDER_PATTERN,
    correct_lead,
    count_by_status,
    get_lead,
    lead_as_dict,
    list_events,
    list_leads,
    reparse_lead,
    resync_lead,
)
from lead_engine.core.settings import Settings, get_settings
from lead_engine.core.statuses import LeadStatus
from lead_engine.core.webhooks import has_valid_token

logger = logging.getLogger(__name__)

STATUS_LIST = "^(" + "|".join(LeadStatus) + ")(,(" + "|".join(LeadStatus) + "))*$"
# Seconds a refused ingest keeps the health check at 503 (unless a request is stored meanwhile): long enough for
# a load balancer to see it, short enough that traffic is tried again once the cause may be gone.
INGEST_FAILURE_MEMORY = 60.0
# Deeper than any list gets; larger numbers overflow the database drivers' 64-bit integers.
MAX_OFFSET = 1_000_000_000


class LeadPatch(BaseModel):
    """Operator corrections: the version read, and the fields to change."""

    model_config = ConfigDict(extra="allow")
    version: Version


class LeadEngineApi(FastAPI):
    """The FastAPI app, with ``POST /api/ingest`` answered by the plain ASGI handler of api_ingest."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Route the ingest endpoint past FastAPI's stack; everything else through it."""
        if is_ingest(scope):
            await handle_ingest(self.state.settings, self.state.writer, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def lead_links(operation: dict[str, Any], paths: dict[str, Any], pointer: str = "/lead_id") -> dict[str, Any]:
    """An operation with OpenAPI links from the lead its answer names (at ``pointer``) to every operation on it."""
    links = {
        f"{method}{path.removeprefix('/api/leads/{lead_id}').replace('/', '_') or '_lead'}": {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}",
            "parameters": {"lead_id": f"$response.body#{pointer}"},
        }
        for path, methods in paths.items()
        if path.startswith("/api/leads/{lead_id}")
        for method in methods
    }
    responses = {
        code: {**answer, "links": links} for code, answer in operation["responses"].items() if code in ("200", "202")
    }
    return {**operation, "responses": {**operation["responses"], **responses}}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API application; builds its engine and runs migrations when it starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = get_engine(settings.database_url)
        run_migrations(engine)
        app.state.engine = engine
        app.state.write_check = WriteCheck(engine)
        app.state.writer = IngestWriter(settings.database_url, log_level=settings.log_level)
        await app.state.writer.start()
        logger.info("api started", extra={"action": "api.started"})
        yield
        await app.state.writer.stop()

    app = LeadEngineApi(title="Lead Engine", version=__version__, lifespan=lifespan)
    app.state.settings = settings

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            paths = schema["paths"]
            paths[INGEST_PATH] = {"post": lead_links(INGEST_OPERATION, paths)}
            paths["/api/leads"]["get"] = lead_links(paths["/api/leads"]["get"], paths, "/items/0/id")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(LeadEngineError)
    async def _engine_error(_request: Request, exc: LeadEngineError) -> JSONResponse:
        code = status_code(exc)
        body: dict[str, Any] = {"detail": str(exc)}
        if isinstance(exc, FieldErrors):
            body["errors"] = exc.errors  # field → what is wrong with its value
        return JSONResponse(body, status_code=code, headers=ERROR_HEADERS.get(code))

    @app.exception_handler(DataError)
    @app.exception_handler(StatementError)
    async def _unstorable(_request: Request, exc: Exception) -> JSONResponse:
        # Whatever validation let through that the database cannot hold (a value out of its range): the
        # client's to fix, nothing was written.
        cause = type(getattr(exc, "orig", None) or exc).__name__
        logger.warning("request value refused by the database", extra={"action": "api.unstorable", "error": cause})
        return JSONResponse({"detail": "a value in the request is out of range or cannot be stored"}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_request: Request, exc: Exception) -> JSONResponse:
        # n8n and the poller retry on 503; nothing was stored, so a retry loses nothing.
        logger.error("database unavailable", extra={"action": "api.database_unavailable", "error": type(exc).__name__})
        return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers=ERROR_HEADERS[503])

    @app.get("/api/health/live")
    def live() -> dict[str, str]:
        """The process answers (no database involved); for liveness probes."""
        return {"status": "ok"}

    @app.get("/api/health")
    def health(request: Request) -> JSONResponse:
        """Whether the API can take leads now: 503 with the reasons when not. Details only with the token."""
        engine = app_engine(request)
        unreachable = database_reachable(engine)
        reasons = [unreachable] if unreachable else []
        if not reasons and (refused := request.app.state.write_check.verdict()):
            reasons.append(refused)
        # A full disk can still take the probe's one-row write: ingest's own failures count too, for a while.
        if failing := request.app.state.writer.failing(within=INGEST_FAILURE_MEMORY):
            reasons.append(f"ingest is failing: {failing}")
        body: dict[str, Any] = {"status": "error" if reasons else "ok", "reasons": reasons}
        if has_valid_token(settings, request.headers.get("authorization")):
            body |= {
                "version": __version__,
                "database": engine.dialect.name,
                "sync_enabled": settings.sync_enabled,
                "llm_enabled": settings.llm_enabled,
                "ingest_writer": "running" if request.app.state.writer.running else "starts with the next request",
            }
            if not reasons:
                with read_session(engine) as session:
                    body["leads"] = count_by_status(session=session)
        return JSONResponse(body, status_code=503 if reasons else 200, headers=ERROR_HEADERS[503] if reasons else None)

    @app.get("/api/leads")
    def leads(
        _actor: Actor,
        session: ReadDep,
        status: Annotated[str | None, Query(pattern=STATUS_LIST)] = None,
        source: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        q: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
        since: Moment | None = None,
        until: Moment | None = None,
        min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
        grade: Annotated[str | None, Query(pattern=r"^(hot|warm|cold)(,(hot|warm|cold))*$")] = None,
        order: Annotated[str, Query(pattern=ORDER_PATTERN)] = "newest",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        """A page of leads, filtered; newest first, ``order=review`` for the review queue (overdue first), or by a
        column (``order=-score``: highest score first)."""
        items, total = list_leads(
            session=session, status=status, source=source, q=q, since=since, until=until,
            min_score=min_score, grade=grade, order=order, limit=limit, offset=offset,
        )  # fmt: skip
        return {"items": [lead_as_dict(lead) for lead in items], "total": total}

    @app.get("/api/leads/{lead_id}")
    def lead(lead_id: LeadId, _actor: Actor, session: ReadDep) -> dict[str, Any]:
        """One lead with its per-field provenance and its event trail."""
        return lead_as_dict(get_lead(session=session, lead_id=lead_id), list_events(session=session, lead_id=lead_id))

    @app.patch("/api/leads/{lead_id}")
    def patch_lead(
        lead_id: LeadId, patch: LeadPatch, actor: Actor, session: WriteDep, cfg: SettingsDep
    ) -> dict[str, Any]:
        """Correct fields; 409 when ``version`` is stale."""
        changes = dict(patch.model_extra or {})
        lead = correct_lead(
            session=session, settings=cfg, lead_id=lead_id, version=patch.version, changes=changes, actor=actor
        )
        return lead_as_dict(lead)

    @app.post("/api/leads/{lead_id}/resync", status_code=202)
    def resync(lead_id: LeadId, actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
        """Queue the lead's sync to the Company Explorer again."""
        return lead_as_dict(resync_lead(session=session, settings=cfg, lead_id=lead_id, actor=actor))

    @app.post("/api/leads/{lead_id}/reparse", status_code=202)
    def reparse(lead_id: LeadId, actor: Actor, session: WriteDep) -> dict[str, Any]:
        """Queue the lead's raw e-mail to be parsed again; operator corrections stay."""
        return lead_as_dict(reparse_lead(session=session, lead_id=lead_id, actor=actor))

    app.include_router(approvals_router)
    app.include_router(imports_router)
    return app


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory lead_engine.api:app_factory``."""
    return create_app()
