"""The worker process killed at the worst moments, and an outside service down: nothing lost, no step repeated."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from lead_engine.core.db import read_session
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch
from lead_engine.core.job_handlers import service_alert_key
from lead_engine.core.leads import count_by_status
from lead_engine.core.models import Job, LeadEvent, OperatorAlert
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import ExplorerState
from tests.support.ready_leads import actions_of, add_ready_lead, jobs_of, lead_of, running_explorer, sync_settings
from tests.support.servers import engine_process
from tests.test_sync_workers import started, wait_for, worker_env

pytestmark = pytest.mark.slow


def _posts(state: ExplorerState, path_end: str) -> int:
    """POST requests to paths ending so, whatever they were answered."""
    return sum(1 for r in state.requests if r.method == "POST" and r.path.endswith(path_end))


def _searches(state: ExplorerState) -> int:
    return sum(1 for r in state.requests if r.method == "GET")


@pytest.mark.parametrize(
    ("killed_during", "repeated"),
    [
        # Creating the company: the next attempt looks again and finds, by its domain, the company that the
        # dead worker's call created after all; nothing is created twice.
        ("/api/companies", None),
        ("/contacts", "/contacts"),  # the company is stored: it is neither searched nor created again
        ("/discovery", "/discovery"),  # company and contact are stored: only discovery is asked again
    ],
)
def test_a_worker_killed_during_a_sync_step_is_resumed_from_that_step(
    engine: Engine, settings: Settings, tmp_path: Path, killed_during: str, repeated: str | None
) -> None:
    with running_explorer() as (state, url):
        cfg = sync_settings(settings, url)
        env = worker_env(cfg, LEAD_ENGINE_JOB_LEASE_SECONDS="2")
        state.hold_path = killed_during
        lead_id = add_ready_lead(engine, cfg, website="https://muster.de")
        doomed, rescuer = tmp_path / "doomed", tmp_path / "rescuer"
        doomed.mkdir(), rescuer.mkdir()
        with engine_process("worker", env, cwd=doomed) as worker:
            wait_for(lambda: state.held == 1, timeout=60, what=f"the {killed_during} request")
            worker.kill()
            worker.wait(timeout=10)
        before = {step: _posts(state, step) for step in ("/api/companies", "/contacts", "/discovery")}
        searches = _searches(state)
        state.hold_path = ""  # the held request is carried out now, for a client that is gone
        with engine_process("worker", env, cwd=rescuer):
            wait_for(lambda: lead_of(engine, lead_id).status == "synced", timeout=60, what="sync after the crash")

        after = {step: _posts(state, step) for step in before}
        # The step in hand when it died is asked once more (same Idempotency-Key); the ones before it not at
        # all; the ones after it once.
        assert after == {step: count + (step == repeated) if count else 1 for step, count in before.items()}
        if killed_during != "/api/companies":
            assert _searches(state) == searches  # the company found or created is not looked up again
        assert len(state.companies) == 1 and len(state.all_contacts()) == 1
        assert dict(state.discoveries) == {"1": 1}
    [job] = jobs_of(engine, lead_id, "sync")
    assert (job.status, job.attempts) == ("done", 2)
    assert actions_of(engine, lead_id) == ["sync_started", "sync_started", "synced"]


def test_a_worker_killed_mid_batch_loses_no_lead_and_parses_each_once(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    items = [
        prepare_ingest(
            "application/json",
            json.dumps(
                {
                    "subject": f"Anfrage {n}",
                    "from": f"person{n}@firma{n}.de",
                    "raw_body": f"Firma: Firma {n} GmbH\nName: Person {n}\nE-Mail: person{n}@firma{n}.de\n"
                    f"Telefon: 030 1234{n:04d}\nNachricht: Bitte um ein Angebot für {n} Stück.",
                }
            ).encode(),
        )
        for n in range(600)
    ]
    lead_ids = [outcome.lead_id for outcome in write_batch(engine, items)]  # type: ignore[union-attr]
    env = worker_env(settings, LEAD_ENGINE_JOB_LEASE_SECONDS="2", LEAD_ENGINE_WORKER_BATCH_SIZE="50")
    env.pop("LEAD_ENGINE_COMPANY_EXPLORER_URL")

    def processed() -> int:
        with read_session(engine) as session:
            return session.scalar(
                select(func.count()).select_from(Job).where(Job.kind == "process", Job.status == "done")
            )

    doomed, rescuer = tmp_path / "doomed", tmp_path / "rescuer"
    doomed.mkdir(), rescuer.mkdir()
    with engine_process("worker", env, cwd=doomed) as worker:
        wait_for(lambda: processed() >= 60, timeout=120, what="some batches done")
        worker.kill()
        worker.wait(timeout=10)
    done_before = processed()
    assert 0 < done_before < 600, "the worker was killed after it had finished: nothing was tested"
    with engine_process("worker", env, cwd=rescuer):
        wait_for(lambda: started(rescuer / "worker.log") and processed() == 600, timeout=240, what="every lead parsed")

    with read_session(engine) as session:
        parsed = Counter(session.scalars(select(LeadEvent.lead_id).where(LeadEvent.action == "parsed")))
        by_status = count_by_status(session=session)
    assert set(parsed) == set(lead_ids) and set(parsed.values()) == {1}  # a batch's outcomes commit whole, once
    assert by_status.get("received", 0) == 0 and sum(by_status.values()) == 600


def test_a_company_explorer_outage_is_probed_alerted_once_and_every_lead_synced_after_it(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    with running_explorer() as (state, url):
        cfg = sync_settings(settings, url)
        env = worker_env(
            cfg,
            LEAD_ENGINE_SYNC_RETRY_SCHEDULE="0.2,0.5,1,1,1,1,1",
            LEAD_ENGINE_SYNC_CALL_RETRIES="1",
            LEAD_ENGINE_BREAKER_FAILURES="3",
            LEAD_ENGINE_BREAKER_DOWN_SECONDS="0.5",
            LEAD_ENGINE_BREAKER_PROBE_SECONDS="0.5",
            LEAD_ENGINE_BREAKER_MAX_PROBE_SECONDS="1",
            LEAD_ENGINE_WORKER_CONCURRENCY="4",
        )
        state.down = True
        lead_ids = [add_ready_lead(engine, cfg, company=f"Firma {n} GmbH", email=f"a@firma{n}.de") for n in range(30)]

        def alert() -> OperatorAlert | None:
            with read_session(engine) as session:
                return session.get(OperatorAlert, service_alert_key("Company Explorer"))

        with engine_process("worker", env, cwd=tmp_path):
            wait_for(lambda: alert() is not None, timeout=60, what="the outage alert")
            calls_at_alert = len(state.requests)
            outage = 8.0
            time.sleep(outage)
            calls_during = len(state.requests) - calls_at_alert
            with read_session(engine) as session:
                waiting = count_by_status(session=session)
            state.down = False
            wait_for(
                lambda: all(lead_of(engine, lead_id).status == "synced" for lead_id in lead_ids),
                timeout=90,
                what="every lead synced after the outage",
            )
            wait_for(lambda: getattr(alert(), "cleared_at", None) is not None, timeout=30, what="the alert cleared")

    # While it was down: only probes (at most one per 0.5–1 s), no lead dead, none paid more than a few attempts.
    assert calls_during <= outage / 0.5 * 2 + 4, calls_during
    assert waiting.get("dead", 0) == 0
    raised = alert()
    assert raised is not None and raised.message.startswith("Company Explorer unreachable since ")
    assert len(state.companies) == 30 and len(state.all_contacts()) == 30
    assert sorted(state.discoveries.values()) == [1] * 30
    assert max(job.attempts for lead_id in lead_ids for job in jobs_of(engine, lead_id, "sync")) <= 4
