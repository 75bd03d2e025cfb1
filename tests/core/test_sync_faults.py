"""Sync under faults: passing ones end in synced, final ones and long outages in dead with one alert."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.leads import list_events, resync_lead
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import ExplorerState
from tests.support.ready_leads import (
    actions_of,
    add_ready_lead,
    jobs_of,
    lead_of,
    run_jobs_until_idle,
    sync_settings,
)
from tests.support.servers import free_port
from tests.support.sink_server import SinkState


@pytest.fixture
def cfg(settings: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str]) -> Settings:
    return sync_settings(settings, explorer[1], sink[1], company_explorer_timeout=0.5)


@pytest.mark.parametrize(
    "fault",
    [
        "burst",  # three 503s in a row
        "throttled",  # 429 with Retry-After
        "slow",  # an answer after the client's timeout
    ],
)
def test_passing_faults_end_in_synced(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str], fault: str
) -> None:
    state, _ = explorer
    if fault == "burst":
        state.fail_next(3, status=503)
    elif fault == "throttled":
        state.throttle_next(2, retry_after="0")
    else:
        state.slow_next(1, seconds=1.5)
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)

    lead = lead_of(engine, lead_id)
    assert lead.status == "synced" and lead.last_error is None
    assert len(state.companies) == 1 and len(state.all_contacts()) == 1
    actions = actions_of(engine, lead_id)
    assert "sync_retrying" in actions and "synced" in actions
    assert [d.json["text"][:40] for d in sink[0].on("/slack")] == [":white_check_mark: Lead synced to the Co"]


def test_half_the_calls_failing_still_syncs_every_lead_once(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, url = explorer
    # The shipped shape: two retries of a call within an attempt, seven waits between attempts.
    cfg = sync_settings(
        settings,
        url,
        sync_call_retries=2,
        sync_call_backoff=0.001,
        sync_retry_schedule=[0.01] * 7,
        breaker_failures=100,
    )
    state.fail_ratio, state.fail_retry_after = 0.5, "0"
    lead_ids = [add_ready_lead(engine, cfg, company=f"Firma {n} GmbH", email=f"a@firma{n}.de") for n in range(20)]
    run_jobs_until_idle(engine, cfg)

    assert {lead_of(engine, lead_id).status for lead_id in lead_ids} == {"synced"}
    assert len(state.companies) == 20 and len(state.all_contacts()) == 20
    assert sorted(state.discoveries.values()) == [1] * 20
    failed = sum(1 for r in state.requests if r.status == 503)
    assert failed > 40  # about half of the calls failed, and were retried within their attempt
    # A completed step is never asked again: each company is created by one successful call.
    assert state.count("POST", "/api/companies") == 20


def test_retry_after_sets_the_next_attempt(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url)
    state.throttle_next(1, retry_after="20")
    lead_id = add_ready_lead(engine, cfg)
    run_due_jobs(engine, cfg)
    with Session(engine) as session:
        retry = [event for event in list_events(session=session, lead_id=lead_id) if event.action == "sync_retrying"]
    assert retry[0].detail["retry_in"] >= 20.0 and "429" in retry[0].detail["error"]
    assert lead_of(engine, lead_id).status == "retrying"
    assert "429" in (lead_of(engine, lead_id).last_error or "")


def test_a_final_4xx_is_dead_after_one_attempt(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str]
) -> None:
    state, _ = explorer
    state.reject_company("Kaputt GmbH", status=400)
    lead_id = add_ready_lead(engine, cfg, company="Kaputt GmbH", email="info@kaputt.de")
    run_jobs_until_idle(engine, cfg)

    lead = lead_of(engine, lead_id)
    assert lead.status == "dead" and "400" in (lead.last_error or "")
    assert [job.attempts for job in jobs_of(engine, lead_id, "sync")] == [1]
    assert state.count("POST", "/api/companies") == 0
    slack = sink[0].on("/slack")
    assert len(slack) == 1 and "Kaputt GmbH" in slack[0].json["text"] and "400" in slack[0].json["text"]
    assert [d.json["event"] for d in sink[0].on("/n8n")] == ["lead.dead"]


def test_an_outage_longer_than_the_schedule_ends_dead_with_one_alert(
    engine: Engine, settings: Settings, sink: tuple[SinkState, str]
) -> None:
    cfg = sync_settings(settings, f"http://127.0.0.1:{free_port()}", sink[1], sync_retry_schedule=[0.01] * 3)
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)

    lead = lead_of(engine, lead_id)
    assert lead.status == "dead"
    assert lead.last_error is not None and lead.last_error.startswith("gave up after 4 attempts")
    assert "ConnectError" in lead.last_error
    assert actions_of(engine, lead_id).count("sync_started") == 4
    assert actions_of(engine, lead_id).count("sync_retrying") == 3
    assert len(sink[0].on("/slack")) == 1
    assert sink[0].on("/n8n")[0].json["status"] == "dead"


def test_a_dead_lead_resynced_after_the_outage_is_synced(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str]
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url, sink[1], sync_retry_schedule=[0.01] * 1)
    state.fail_next(2)
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "dead"

    with Session(engine) as session:
        resync_lead(session=session, settings=cfg, lead_id=lead_id, actor="anna")
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "synced"
    # Dead, then synced: both messages go out even though they concern one lead.
    texts = [d.json["text"] for d in sink[0].on("/slack")]
    assert len(texts) == 2 and "could not be synced" in texts[0] and "Lead synced" in texts[1]
    assert [d.json["event"] for d in sink[0].on("/n8n")] == ["lead.dead", "lead.synced"]
