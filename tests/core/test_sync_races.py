"""Sync against an operator acting meanwhile: a rejection is kept and not announced, a resync gets its follow-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from lead_engine.core.approvals import reject_lead
from lead_engine.core.leads import lock_lead, resync_lead
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
from tests.support.sink_server import SinkState


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what}")
        time.sleep(0.01)


def _while_the_contact_is_held(engine: Engine, cfg: Settings, state: ExplorerState, act: Callable[[], None]) -> None:
    """Run the lead's jobs and ``act`` while its sync waits for the Company Explorer to add the contact."""
    state.hold_contacts = True
    syncing = threading.Thread(target=run_jobs_until_idle, args=(engine, cfg))
    syncing.start()
    try:
        _wait(lambda: state.held == 1, "held contact request")
        act()
    finally:
        state.hold_contacts = False
        syncing.join(timeout=60)
    assert not syncing.is_alive()


def _notify_jobs(engine: Engine, lead_id: str) -> list[str]:
    return [job.kind for job in jobs_of(engine, lead_id) if job.kind.startswith("notify_")]


def test_a_lead_rejected_while_it_syncs_stays_rejected_and_is_not_announced(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str]
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url, sink[1])
    lead_id = add_ready_lead(engine, cfg)

    def reject() -> None:
        with Session(engine) as session:
            reject_lead(session=session, lead_id=lead_id, version=lead_of(engine, lead_id).version, actor="anna")

    _while_the_contact_is_held(engine, cfg, state, reject)
    lead = lead_of(engine, lead_id)
    # The company exists in the Company Explorer now; the lead knows which one.
    assert (lead.status, lead.company_explorer_id) == ("rejected", "1")
    assert actions_of(engine, lead_id) == ["sync_started", "rejected", "sync_skipped"]
    assert _notify_jobs(engine, lead_id) == [] and sink[0].deliveries == []


def test_a_resync_while_it_syncs_is_pushed_by_a_follow_up_and_announced_once(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str]
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url, sink[1])
    lead_id = add_ready_lead(engine, cfg)

    def resync() -> None:
        with Session(engine) as session:
            resync_lead(session=session, settings=cfg, lead_id=lead_id, actor="anna")

    _while_the_contact_is_held(engine, cfg, state, resync)
    assert lead_of(engine, lead_id).status == "synced"
    assert actions_of(engine, lead_id)[:5] == ["sync_started", "resync_requested", "synced", "sync_started", "synced"]
    assert len(state.companies) == 1 and len(state.all_contacts()) == 1
    assert [d.json["event"] for d in sink[0].on("/n8n")] == ["lead.synced"] and len(sink[0].on("/slack")) == 1


def _handler_waits_for_the_lead(engine: Engine, state: ExplorerState) -> bool:
    if engine.dialect.name != "postgresql":
        # SQLite: the handler's BEGIN IMMEDIATE (storing the step done) queues behind the test's write lock
        # once the held contact call is answered.
        answered = any(r.path.endswith("/contacts") and r.status for r in state.requests)
        return answered and time.sleep(0.3) is None
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return bool(waiting)


@pytest.mark.parametrize(
    ("fault", "max_attempts", "actions"),
    [
        # The sync succeeds: its result must not overwrite the rejection.
        (None, 5, ["sync_started", "rejected", "sync_skipped"]),
        # The attempt fails: "retrying" must not overwrite it, and the next attempt is skipped.
        (503, 5, ["sync_started", "rejected", "sync_retrying", "sync_skipped"]),
        # The last attempt fails: neither "dead" nor an alert.
        (503, 1, ["sync_started", "rejected", "sync_dead"]),
    ],
)
def test_a_rejection_committed_while_the_handler_waits_for_the_lead_is_kept(
    engine: Engine,
    settings: Settings,
    explorer: tuple[ExplorerState, str],
    sink: tuple[SinkState, str],
    fault: int | None,
    max_attempts: int,
    actions: list[str],
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url, sink[1], sync_retry_schedule=[0.01] * (max_attempts - 1))
    lead_id = add_ready_lead(engine, cfg)

    def reject_holding_the_lead() -> None:
        if fault:
            state.fail_next(1, status=fault)  # the discovery call, the one after the held contact
        with Session(engine) as session:
            lead = lock_lead(session=session, lead_id=lead_id)
            state.hold_contacts = False
            _wait(lambda: _handler_waits_for_the_lead(engine, state), "handler waiting for the lead")
            reject_lead(session=session, lead_id=lead_id, version=lead.version, actor="anna", reason="spam")

    _while_the_contact_is_held(engine, cfg, state, reject_holding_the_lead)
    assert lead_of(engine, lead_id).status == "rejected"
    assert actions_of(engine, lead_id) == actions
    assert _notify_jobs(engine, lead_id) == [] and sink[0].deliveries == []


def test_a_resync_while_a_sync_fails_for_good_gets_its_own_attempt_and_one_alert(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str]
) -> None:
    state, url = explorer
    cfg = sync_settings(settings, url, sink[1])
    state.reject_company("Kaputt GmbH", status=400)
    state.slow_next(1, seconds=1.0)
    lead_id = add_ready_lead(engine, cfg, company="Kaputt GmbH", email="info@kaputt.de")
    syncing = threading.Thread(target=run_jobs_until_idle, args=(engine, cfg))
    syncing.start()
    try:
        _wait(lambda: bool(state.requests), "first request")
        with Session(engine) as session:
            resync_lead(session=session, settings=cfg, lead_id=lead_id, actor="anna")
    finally:
        syncing.join(timeout=60)
    assert lead_of(engine, lead_id).status == "dead"
    actions = [action for action in actions_of(engine, lead_id) if action.startswith(("sync", "resync"))]
    assert actions == ["sync_started", "resync_requested", "sync_dead", "sync_started", "sync_dead"]
    assert [d.json["event"] for d in sink[0].on("/n8n")] == ["lead.dead"]
