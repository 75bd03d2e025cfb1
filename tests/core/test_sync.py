"""Syncing a lead: company found by domain or name or created once, contact added, discovery started."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, create_engine, update
from sqlmodel import Session, col

from lead_engine.core.approvals import reject_lead
from lead_engine.core.errors import ConflictError
from lead_engine.core.leads import record_event, resync_lead
from lead_engine.core.models import Lead
from lead_engine.core.settings import Settings
from lead_engine.core.sync import run_sync
from tests.support.company_explorer_server import ExplorerState
from tests.support.ready_leads import (
    actions_of,
    add_ready_lead,
    jobs_of,
    lead_of,
    run_jobs_until_idle,
    sync_settings,
)


@pytest.fixture
def cfg(settings: Settings, explorer: tuple[ExplorerState, str]) -> Settings:
    return sync_settings(settings, explorer[1])


def test_new_company_is_created_with_contact_and_discovery(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    lead_id = add_ready_lead(
        engine, cfg, website="https://www.muster.de/", phone="+4930123456", street="Hauptstr. 1", postal_code="10115"
    )
    run_jobs_until_idle(engine, cfg)

    lead = lead_of(engine, lead_id)
    assert lead.status == "synced" and lead.company_explorer_id == "1" and lead.last_error is None
    company = state.companies["1"]
    assert company["name"] == "Muster GmbH" and company["domain"] == "muster.de"
    assert company["website"] == "https://www.muster.de/" and company["source"] == "lead-engine"
    assert (company["street"], company["postal_code"], company["city"], company["country"]) == (
        "Hauptstr. 1",
        "10115",
        "Berlin",
        "DE",
    )
    assert state.all_contacts()[0] | {"id": None} == {
        "id": None,
        "company_id": "1",
        "name": "Max Muster",
        "email": "max@muster.de",
        "phone": "+4930123456",
        "role": None,
    }
    assert state.discoveries["1"] == 1
    assert actions_of(engine, lead_id) == ["sync_started", "synced"]
    assert [r.idempotency_key for r in state.requests if r.method == "POST"] == [
        "company-domain-muster.de",
        f"lead-{lead_id}:contact",
        f"lead-{lead_id}:discovery",
    ]


def test_company_found_by_domain_is_not_created_again(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    state.companies["7"] = {"id": "7", "name": "Muster Holding", "domain": "muster.de"}
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).company_explorer_id == "7"
    assert len(state.companies) == 1 and state.count("POST", "/api/companies") == 0


def test_company_found_by_normalised_name_when_the_lead_has_free_mail(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    state.companies["3"] = {"id": "3", "name": "Müller Maschinenbau GmbH & Co. KG", "domain": None}
    lead_id = add_ready_lead(engine, cfg, company="Mueller Maschinenbau GmbH", email="hans.mueller@gmail.com")
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).company_explorer_id == "3"
    # The free-mail domain is never looked up, the name search goes without the legal form.
    searches = [r.query for r in state.requests if r.method == "GET"]
    assert searches == [{"name": "Mueller Maschinenbau"}]


def test_free_mail_lead_creates_its_company_without_a_domain(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    lead_id = add_ready_lead(engine, cfg, company="Bäckerei Schulz", email="schulz@web.de")
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "synced"
    assert state.companies["1"]["domain"] is None and state.companies["1"]["website"] is None


def test_two_leads_of_one_company_give_one_company(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    first = add_ready_lead(engine, cfg, email="max@muster.de")
    second = add_ready_lead(engine, cfg, company="Muster", contact_name="Erika Muster", email="erika@muster.de")
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, first).company_explorer_id == lead_of(engine, second).company_explorer_id == "1"
    assert len(state.companies) == 1
    assert sorted(contact["name"] for contact in state.all_contacts()) == ["Erika Muster", "Max Muster"]


def test_resync_sends_the_same_keys_and_duplicates_nothing(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)
    with Session(engine) as session:
        resync_lead(session=session, settings=cfg, lead_id=lead_id, actor="anna")
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "synced"
    assert len(state.companies) == 1 and len(state.all_contacts()) == 1
    contact_keys = {r.idempotency_key for r in state.requests if r.path.endswith("/contacts")}
    assert contact_keys == {f"lead-{lead_id}:contact"}
    assert actions_of(engine, lead_id)[-3:] == ["resync_requested", "sync_started", "synced"]


def test_a_lead_rejected_before_its_sync_is_not_synced(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    lead_id = add_ready_lead(engine, cfg)
    with Session(engine) as session:
        reject_lead(session=session, lead_id=lead_id, version=1, actor="anna", reason="spam")
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "rejected"
    assert state.requests == [] and actions_of(engine, lead_id) == ["rejected", "sync_skipped"]


@pytest.mark.parametrize(
    "status",
    [
        "received",  # not parsed yet
        "parsed",  # parsed, not qualified
        "needs_review",  # sent back to review by a reparse after its sync was queued
        "synced",  # synced by an earlier job
        "dead",  # given up; a resync makes it ready first
    ],
)
def test_a_stale_sync_job_of_a_lead_not_ready_is_skipped(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str], status: str
) -> None:
    state, _ = explorer
    lead_id = add_ready_lead(engine, cfg)
    with Session(engine) as session, session.begin():
        session.execute(update(Lead).where(col(Lead.id) == lead_id).values(status=status))
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == status and state.requests == []
    assert actions_of(engine, lead_id) == ["sync_skipped"]
    assert [job.status for job in jobs_of(engine, lead_id, "sync")] == ["done"]


def test_no_write_transaction_is_open_during_the_calls(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    state.hold_contacts = True
    lead_id = add_ready_lead(engine, cfg)
    syncing = threading.Thread(target=run_jobs_until_idle, args=(engine, cfg))
    syncing.start()
    try:
        deadline = time.monotonic() + 20
        while not state.held and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state.held == 1
        assert lead_of(engine, lead_id).status == "syncing"
        # A writer that would wait behind an open write transaction gives up at once instead.
        impatient = create_engine(
            cfg.database_url, connect_args={"timeout": 0.2} if "sqlite" in cfg.database_url else {}
        )
        with Session(impatient) as session, session.begin():
            record_event(session=session, lead_id=lead_id, action="note", actor="anna")
        impatient.dispose()
    finally:
        state.hold_contacts = False
        syncing.join(timeout=30)
    assert lead_of(engine, lead_id).status == "synced"


def test_run_sync_syncs_now_and_returns_the_status(
    engine: Engine, cfg: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    state, _ = explorer
    lead_id = add_ready_lead(engine, cfg, queue=False)
    state.fail_next(2)
    assert run_sync(lead_id, settings=cfg) == "synced"
    assert actions_of(engine, lead_id) == [
        "sync_requested",
        "sync_started",
        "sync_retrying",
        "sync_started",
        "sync_retrying",
        "sync_started",
        "synced",
    ]
    assert [job.attempts for job in jobs_of(engine, lead_id, "sync")] == [3]


def test_run_sync_refuses_a_rejected_lead(engine: Engine, cfg: Settings) -> None:
    lead_id = add_ready_lead(engine, cfg, queue=False)
    with Session(engine) as session:
        reject_lead(session=session, lead_id=lead_id, version=1, actor="anna")
    with pytest.raises(ConflictError, match="rejected"):
        run_sync(lead_id, settings=cfg)
