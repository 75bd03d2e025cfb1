"""Sync with real worker processes: two workers share the work safely, an ingested mail ends synced and announced."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from standardwebhooks import Webhook

from lead_engine.api import create_app
from lead_engine.core.db import read_session
from lead_engine.core.leads import count_by_status
from lead_engine.core.models import Job, Lead, LeadEvent
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.company_explorer_server import TOKEN, ExplorerState
from tests.support.ready_leads import (
    WEBHOOK_SECRET,
    add_ready_lead,
    lead_of,
    running_explorer,
    running_sink,
    sync_settings,
)
from tests.support.servers import ROOT, engine_env, engine_process, serve_app

pytestmark = pytest.mark.slow
FIXTURES = ROOT / "tests" / "fixtures" / "emails"


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``check`` until it holds, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a worker process these settings."""
    env = {
        "LEAD_ENGINE_DATABASE_URL": settings.database_url,
        "LEAD_ENGINE_COMPANY_EXPLORER_URL": settings.company_explorer_url or "",
        "LEAD_ENGINE_COMPANY_EXPLORER_TOKEN": TOKEN,
        "LEAD_ENGINE_COMPANY_EXPLORER_TIMEOUT": "10",
        "LEAD_ENGINE_SYNC_RETRY_SCHEDULE": "0.01,0.05,0.1,0.2,0.2,0.2,0.2",
        "LEAD_ENGINE_SYNC_CALL_BACKOFF": "0.01",
        "LEAD_ENGINE_WORKER_POLL_SECONDS": "0.05",
        "LEAD_ENGINE_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def started(log: Path) -> bool:
    """Whether the worker writing ``log`` is up and claiming jobs."""
    return log.exists() and "worker.started" in log.read_text(errors="replace")


@pytest.fixture
def explorer() -> Iterator[tuple[ExplorerState, str]]:
    with running_explorer(latency=0.02) as running:
        yield running


def test_two_workers_sync_200_leads_once_each(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str], tmp_path: Path
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url)
    env = worker_env(cfg, LEAD_ENGINE_WORKER_CONCURRENCY="8")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    with engine_process("worker", env, cwd=first), engine_process("worker", env, cwd=second):
        wait_for(lambda: started(first / "worker.log") and started(second / "worker.log"), timeout=60, what="start")
        # 50 companies with 4 leads each: leads of one company are synced at the same moment by both workers.
        lead_ids = [
            add_ready_lead(engine, cfg, company=f"Firma {n % 50} GmbH", email=f"person{n}@firma{n % 50}.de")
            for n in range(200)
        ]

        def all_synced() -> bool:
            with read_session(engine) as session:
                return count_by_status(session=session).get("synced", 0) == 200

        wait_for(all_synced, timeout=240, what="200 leads synced")

    assert len(state.companies) == 50
    assert len(state.all_contacts()) == 200 and state.overlaps == 0
    with read_session(engine) as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == "sync")))
        events = list(session.scalars(select(LeadEvent).order_by(LeadEvent.id)))  # type: ignore[arg-type]
        explorer_ids = {lead.company_explorer_id for lead in session.scalars(select(Lead))}
    assert {(job.status, job.attempts) for job in jobs} == {("done", 1)}
    assert len({job.locked_by for job in jobs}) == 2
    assert len(explorer_ids) == 50
    per_lead: dict[str, list[str]] = {lead_id: [] for lead_id in lead_ids}
    for event in events:
        per_lead[event.lead_id].append(event.action)
    assert {tuple(actions) for actions in per_lead.values()} == {("sync_started", "synced")}


def test_an_ingested_email_ends_synced_and_announced(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str], tmp_path: Path
) -> None:
    state, url = explorer
    with running_sink() as (sink, sink_url):
        cfg = sync_settings(settings, url, sink_url)
        env = worker_env(
            cfg,
            LEAD_ENGINE_SLACK_WEBHOOK_URL=cfg.slack_webhook_url or "",
            LEAD_ENGINE_N8N_CALLBACK_URL=cfg.n8n_callback_url or "",
            LEAD_ENGINE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        with serve_app(create_app(cfg)) as api_url, engine_process("worker", env, cwd=tmp_path):
            answer = httpx.post(
                f"{api_url}/api/ingest",
                content=(FIXTURES / "cf7_de_fields.eml").read_bytes(),
                headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "message/rfc822"},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
            lead_id = answer.json()["lead_id"]
            wait_for(lambda: len(sink.on("/n8n")) == 1, timeout=60, what="the n8n callback")

    lead = lead_of(engine, lead_id)
    assert (lead.status, lead.company_explorer_id) == ("synced", "1")
    assert state.companies["1"]["name"] == "Schreinerei Holzwurm e.K."
    assert state.companies["1"]["domain"] == "schreinerei-holzwurm.de"
    assert state.all_contacts()[0]["email"] == "martin@schreinerei-holzwurm.de"
    assert Webhook(WEBHOOK_SECRET).verify(sink.on("/n8n")[0].body, sink.on("/n8n")[0].headers)["lead_id"] == lead_id


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m lead_engine …`` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "lead_engine", *args],
        env=engine_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_sync_reports_synced_and_dead(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str], tmp_path: Path
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url)
    env = worker_env(cfg, LEAD_ENGINE_SYNC_RETRY_SCHEDULE="0.01,0.01")
    good = add_ready_lead(engine, cfg, queue=False)
    state.reject_company("Kaputt GmbH")
    bad = add_ready_lead(engine, cfg, queue=False, company="Kaputt GmbH", email="info@kaputt.de")

    synced = run_cli("sync", good, env=env, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.strip() == f"lead {good}: synced (Company Explorer id 1)"

    dead = run_cli("sync", bad, env=env, cwd=tmp_path)
    assert dead.returncode == 1
    assert dead.stderr.strip().splitlines()[-1].startswith(f"lead {bad}: dead: POST /api/companies answered 400")

    missing = run_cli("sync", "nope", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "lead nope not found" in missing.stderr
