"""Promise: the engine calls only the services the operator configured. A lead's website or e-mail, a link in
its mail, or an id a hostile Company Explorer answers with never makes it call another host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from sqlalchemy import Engine

from lead_engine.core.outbound import OutboundRefusedError, allowed_hosts, outbound_http
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import ExplorerState
from tests.support.ready_leads import add_ready_lead, lead_of, run_jobs_until_idle, sync_settings
from tests.support.servers import serve_app
from tests.support.sink_server import SinkState


@pytest.fixture
def elsewhere() -> Iterator[tuple[list[str], str]]:
    """A server nobody configured, on another address of the loopback net: it records whatever reaches it."""
    seen: list[str] = []
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT"])
    async def anything(path: str, request: Request) -> dict[str, Any]:
        seen.append(f"{request.method} /{path}")
        return {"items": [], "id": "stolen"}

    with serve_app(app) as url:
        yield seen, url.replace("127.0.0.1", "localhost")


def test_a_client_for_outside_calls_refuses_any_other_host(
    settings: Settings, elsewhere: tuple[list[str], str]
) -> None:
    configured = settings.model_copy(update={"slack_webhook_url": "http://127.0.0.1:9/slack"})
    assert allowed_hosts(configured) == frozenset({"127.0.0.1"})
    with pytest.raises(OutboundRefusedError, match="refused to call localhost: it is not a configured service"):
        outbound_http(configured, timeout=2).get(f"{elsewhere[1]}/anything")
    assert elsewhere[0] == []


def test_a_lead_pointing_elsewhere_is_synced_and_announced_without_calling_there(
    engine: Engine,
    settings: Settings,
    explorer: tuple[ExplorerState, str],
    sink: tuple[SinkState, str],
    elsewhere: tuple[list[str], str],
) -> None:
    cfg = sync_settings(settings, explorer[1], sink[1])
    evil = elsewhere[1]
    lead_id = add_ready_lead(
        engine, cfg, company="Spion GmbH", website=evil, email="spy@localhost", message=f"Siehe {evil}/angebot"
    )
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "synced"
    assert sink[0].on("/slack") and sink[0].on("/n8n")
    assert elsewhere[0] == []


def test_a_hostile_company_id_stays_a_path_segment_on_the_company_explorer(
    engine: Engine, settings: Settings, elsewhere: tuple[list[str], str]
) -> None:
    hits: list[str] = []
    app = FastAPI()
    evil_id = f"{elsewhere[1]}/x?steal=1#"

    @app.get("/api/companies")
    async def search() -> dict[str, Any]:
        return {"items": [{"id": evil_id, "name": "Muster GmbH", "domain": "muster.de"}]}

    @app.post("/api/companies/{rest:path}")
    async def write(rest: str, request: Request) -> dict[str, Any]:
        hits.append(request.url.path)
        return {"id": evil_id}

    with serve_app(app) as hostile:
        cfg = sync_settings(settings, hostile)
        lead_id = add_ready_lead(engine, cfg)
        run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "synced"
    assert elsewhere[0] == []
    assert [path.rsplit("/", 1)[-1] for path in hits] == ["contacts", "discovery"]
    assert all(path.startswith("/api/companies/http") for path in hits), hits
