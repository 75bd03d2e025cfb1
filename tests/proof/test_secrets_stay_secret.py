"""Promise: no secret shows up where people or machines read: not in API answers (errors, health, lead data),
not in events or job errors, not in logs — whatever fails. Every configured secret is planted with a marker and
the whole output of a busy, failing run is searched for it."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlmodel import Session

from lead_engine.api import create_app
from lead_engine.core.logs import quiet_libraries
from lead_engine.core.models import Job, LeadEvent
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import ExplorerState
from tests.support.ready_leads import add_ready_lead, run_jobs_until_idle, sync_settings
from tests.support.servers import serve_app
from tests.support.sink_server import SinkState

API_TOKEN = "apiTokenSecret1f2e3d"
SECRETS = {
    "api_token": API_TOKEN,
    "ui_password": "uiPasswordSecret7a8b",
    "webhook_secret": "whsec_c2VjcmV0V2ViaG9va1NlY3JldDEyMzQ1Njc4OTA=",
    "company_explorer_token": "explorerTokenSecret9c0d",
    "openai_api_key": "sk-openaiKeySecret2b3c",
}
SLACK_SECRET = "xSlackPathSecret4f9a"


def test_no_secret_appears_in_answers_events_job_errors_or_logs(
    engine: Engine,
    settings: Settings,
    explorer: tuple[ExplorerState, str],
    sink: tuple[SinkState, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    state, sink_url = sink
    cfg = sync_settings(settings, explorer[1], sink_url, slack_webhook_url=f"{sink_url}/services/T0/B0/{SLACK_SECRET}")
    cfg = cfg.model_copy(
        update={
            **{name: SecretStr(value) for name, value in SECRETS.items()},
            "openai_base_url": "http://127.0.0.1:9/v1",  # nothing listens: every LLM call fails
            "notify_timeout": 0.2,
            "notify_retry_hours": 0.0005,
        }
    )
    explorer[0].token = SECRETS["company_explorer_token"]
    state.down, state.failure_status = True, 500  # Slack and n8n answer 500 to everything
    seen: list[str] = []
    quiet_libraries()  # as configure_logging does in every program, whatever LEAD_ENGINE_LOG_LEVEL says
    with caplog.at_level(logging.DEBUG), serve_app(create_app(cfg)) as url:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        for response in (
            httpx.get(f"{url}/api/leads", headers={"Authorization": "Bearer wrong"}),
            httpx.post(
                f"{url}/api/ingest", json={"subject": "x", "raw_body": "y"}, headers={"webhook-signature": "v1,x"}
            ),
            httpx.get(f"{url}/api/health", headers=auth),
            httpx.get(f"{url}/api/health"),
            httpx.post(
                f"{url}/api/ingest",
                json={"subject": "Anfrage", "raw_body": "Firma: A GmbH\nTel 030 1234567"},
                headers=auth,
            ),
            httpx.get(f"{url}/openapi.json"),
        ):
            seen.append(response.text)
        lead_id = add_ready_lead(engine, cfg)
        run_jobs_until_idle(engine, cfg)
        seen.append(httpx.get(f"{url}/api/leads/{lead_id}", headers=auth).text)
        seen.append(httpx.get(f"{url}/api/leads", headers=auth).text)
    with Session(engine) as session:
        seen += [str(detail) for detail in session.scalars(select(LeadEvent.detail))]
        seen += [job.last_error or "" for job in session.scalars(select(Job))]
    seen += [record.getMessage() + str(record.__dict__) for record in caplog.records]
    assert any("not delivered" in text or "answered 500" in text for text in seen), "nothing failed: proves nothing"
    everything = "\n".join(seen)
    leaked = [name for name, value in {**SECRETS, "slack_path": SLACK_SECRET}.items() if value in everything]
    where = [text[:300] for text in seen if SLACK_SECRET in text][:3]
    assert leaked == [], where
