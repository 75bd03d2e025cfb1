"""Leads waiting for sync, the outside services they sync to, and running their jobs to the end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlmodel import Session

from lead_engine.core.db import read_session
from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.leads import enqueue_sync, list_events
from lead_engine.core.models import Job, Lead, RawMessage
from lead_engine.core.outbox import count_open_jobs
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import TOKEN, ExplorerState, create_explorer_app
from tests.support.servers import serve_app
from tests.support.sink_server import SinkState, create_sink_app

WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@contextmanager
def running_explorer(**options: Any) -> Iterator[tuple[ExplorerState, str]]:
    """The Company Explorer stand-in on a loopback port: its state and base URL."""
    state = ExplorerState(**options)
    with serve_app(create_explorer_app(state)) as url:
        yield state, url


@contextmanager
def running_sink() -> Iterator[tuple[SinkState, str]]:
    """The Slack/n8n sink on a loopback port: its state and base URL."""
    state = SinkState()
    with serve_app(create_sink_app(state)) as url:
        yield state, url


def sync_settings(settings: Settings, explorer_url: str, sink_url: str | None = None, **overrides: Any) -> Settings:
    """Test settings with sync (and notifications) on and a fast retry schedule."""
    values: dict[str, Any] = {
        "company_explorer_url": explorer_url,
        "company_explorer_token": SecretStr(TOKEN),
        "company_explorer_timeout": 2.0,
        "sync_retry_schedule": [0.01, 0.02, 0.03, 0.05],
        "sync_call_retries": 0,
        "notify_retry_schedule": [0.01, 0.05],
    }
    if sink_url:
        values.update(
            slack_webhook_url=f"{sink_url}/slack",
            n8n_callback_url=f"{sink_url}/n8n",
            webhook_secret=SecretStr(WEBHOOK_SECRET),
            notify_timeout=2.0,
        )
    values.update(overrides)
    return settings.model_copy(update=values)


def add_ready_lead(engine: Engine, settings: Settings, *, queue: bool = True, **fields: Any) -> str:
    """A parsed, qualified lead in status ready, its sync queued when sync is on."""
    values = {
        "company": "Muster GmbH",
        "contact_name": "Max Muster",
        "email": "max@muster.de",
        "city": "Berlin",
        "country": "DE",
    }
    values.update(fields)
    with Session(engine) as session, session.begin():
        raw = RawMessage(content_type="application/json", body=b"{}")
        lead = Lead(raw_message_id=raw.id, status="ready", score=80, qualified=True, **values)
        session.add(raw)
        session.flush()
        session.add(lead)
        session.flush()
        if queue and settings.sync_enabled:
            enqueue_sync(session, settings, lead.id)
        return lead.id


def run_jobs_until_idle(engine: Engine, settings: Settings, *, timeout: float = 60.0) -> None:
    """Run due jobs inline, waiting out their backoff, until none is open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_due_jobs(engine, settings)
        with read_session(engine) as session:
            if not count_open_jobs(session=session):
                return
        time.sleep(0.01)
    raise TimeoutError("jobs still open")


def lead_of(engine: Engine, lead_id: str) -> Lead:
    """The lead as stored now."""
    with read_session(engine) as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        session.expunge(lead)
        return lead


def actions_of(engine: Engine, lead_id: str) -> list[str]:
    """The actions in the lead's audit trail, oldest first."""
    with read_session(engine) as session:
        return [event.action for event in list_events(session=session, lead_id=lead_id)]


def jobs_of(engine: Engine, lead_id: str, kind: str | None = None) -> list[Job]:
    """The lead's jobs (of one kind), oldest first."""
    with read_session(engine) as session:
        query = select(Job).where(Job.lead_id == lead_id).order_by(Job.id)  # type: ignore[arg-type]
        jobs = [job for job in session.scalars(query) if kind is None or job.kind == kind]
        for job in jobs:
            session.expunge(job)
        return jobs
