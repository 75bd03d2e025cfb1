"""Slack and n8n notifications: their content, the signature, and retries that never touch the lead's status."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col
from standardwebhooks import Webhook

from lead_engine.core.db import read_session
from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.leads import list_events
from lead_engine.core.models import Job, Lead, utcnow
from lead_engine.core.notifications import (
    WEBHOOK_MISSING_GRACE_SECONDS,
    LeadNotice,
    enqueue_notifications,
    n8n_body,
    slack_text,
)
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import ExplorerState
from tests.support.ready_leads import (
    WEBHOOK_SECRET,
    actions_of,
    add_ready_lead,
    jobs_of,
    lead_of,
    run_jobs_until_idle,
    sync_settings,
)
from tests.support.servers import free_port
from tests.support.sink_server import SinkState

NOTICE = LeadNotice(
    id="evt_1",
    event="synced",
    lead_id="abc",
    status="synced",
    occurred_at="2025-01-01T00:00:00+00:00",
    company="Müller & Söhne <GmbH>",
    contact_name="Max Muster",
    email="max@mueller.de",
    company_explorer_id="42",
)


@pytest.fixture
def cfg(settings: Settings, explorer: tuple[ExplorerState, str], sink: tuple[SinkState, str]) -> Settings:
    return sync_settings(settings, explorer[1], sink[1])


def test_slack_text_names_company_contact_lead_and_explorer_id() -> None:
    text = slack_text(NOTICE)
    assert "*Müller &amp; Söhne &lt;GmbH&gt;* — Max Muster, max@mueller.de" in text
    assert "`abc`" in text and "Company Explorer id `42`" in text


def test_slack_text_of_a_dead_lead_carries_the_error() -> None:
    dead = LeadNotice(**{**NOTICE.__dict__, "event": "dead", "status": "dead", "error": "gave up: 503"})
    assert "could not be synced" in slack_text(dead) and "Last error: gave up: 503" in slack_text(dead)


def test_n8n_body_follows_the_contract() -> None:
    body = n8n_body(NOTICE)
    assert body["event"] == "lead.synced"
    assert {key: body[key] for key in ("lead_id", "company_explorer_id", "status")} == {
        "lead_id": "abc",
        "company_explorer_id": "42",
        "status": "synced",
    }


def test_synced_lead_is_announced_on_slack_and_to_n8n_signed(
    engine: Engine, cfg: Settings, sink: tuple[SinkState, str]
) -> None:
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)

    state, _ = sink
    [slack] = state.on("/slack")
    assert "Muster GmbH" in slack.json["text"] and lead_id in slack.json["text"]
    [n8n] = state.on("/n8n")
    payload = Webhook(WEBHOOK_SECRET).verify(n8n.body, n8n.headers)
    assert payload["event"] == "lead.synced" and payload["lead_id"] == lead_id
    assert payload["company_explorer_id"] == "1" and payload["status"] == "synced"
    assert n8n.headers["idempotency-key"] == payload["id"]
    assert actions_of(engine, lead_id).count("notified") == 2


def test_n8n_callback_is_unsigned_without_a_secret(engine: Engine, cfg: Settings, sink: tuple[SinkState, str]) -> None:
    unsigned = cfg.model_copy(update={"webhook_secret": None})
    add_ready_lead(engine, unsigned)
    run_jobs_until_idle(engine, unsigned)
    [n8n] = sink[0].on("/n8n")
    assert "webhook-signature" not in n8n.headers


def test_a_failing_notifier_is_retried_and_leaves_the_lead_synced(
    engine: Engine, cfg: Settings, sink: tuple[SinkState, str]
) -> None:
    state, _ = sink
    state.fail_next(3)
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "synced"
    assert len(state.on("/slack")) == 1 and len(state.on("/n8n")) == 1
    assert sum(job.attempts for job in jobs_of(engine, lead_id) if job.kind.startswith("notify_")) == 5


def test_an_undeliverable_notification_goes_dead_alone(
    engine: Engine, cfg: Settings, sink: tuple[SinkState, str]
) -> None:
    state, _ = sink
    state.down, state.failure_status = True, 400
    lead_id = add_ready_lead(engine, cfg)
    run_jobs_until_idle(engine, cfg)
    assert lead_of(engine, lead_id).status == "synced"
    notify_jobs = [job for job in jobs_of(engine, lead_id) if job.kind.startswith("notify_")]
    assert [(job.status, job.attempts) for job in notify_jobs] == [("dead", 1), ("dead", 1)]
    assert actions_of(engine, lead_id).count("notification_failed") == 2


def test_synced_then_dead_on_one_lead_sends_both_while_the_first_is_still_pending(
    engine: Engine, cfg: Settings, sink: tuple[SinkState, str]
) -> None:
    lead_id = add_ready_lead(engine, cfg, queue=False)
    with Session(engine) as session, session.begin():
        lead = session.get(Lead, lead_id)
        assert lead is not None
        lead.status = "synced"
        enqueue_notifications(session=session, settings=cfg, lead=lead, event="synced")
        lead.status = "dead"
        enqueue_notifications(session=session, settings=cfg, lead=lead, event="dead", error="gave up")
    run_jobs_until_idle(engine, cfg)
    assert sorted(d.json["event"] for d in sink[0].on("/n8n")) == ["lead.dead", "lead.synced"]
    assert len(sink[0].on("/slack")) == 2


def test_nothing_is_queued_when_no_channel_is_configured(
    engine: Engine, settings: Settings, explorer: tuple[ExplorerState, str]
) -> None:
    quiet = sync_settings(settings, explorer[1])
    lead_id = add_ready_lead(engine, quiet)
    run_jobs_until_idle(engine, quiet)
    assert lead_of(engine, lead_id).status == "synced"
    assert [job.kind for job in jobs_of(engine, lead_id)] == ["sync"]


# What a Slack webhook's path and an n8n URL's path and query carry: the credentials themselves.
WEBHOOK_SECRETS = ("T0TEAMID7", "B0HOOKID9", "xSlackSecret4f9a2c", "n8nPathToken81d3", "n8nQueryToken5e7b")


@pytest.mark.parametrize(
    "failure",
    [
        "500",  # every POST answers 500, quoting the URL it was sent to
        "timeout",  # every answer comes after the client's timeout
        "refused",  # nothing listens
    ],
)
def test_webhook_secrets_stay_out_of_job_errors_events_and_logs(
    engine: Engine,
    settings: Settings,
    explorer: tuple[ExplorerState, str],
    sink: tuple[SinkState, str],
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    state, sink_url = sink
    base = f"http://127.0.0.1:{free_port()}" if failure == "refused" else sink_url
    cfg = sync_settings(
        settings,
        explorer[1],
        sink_url,
        slack_webhook_url=f"{base}/services/T0TEAMID7/B0HOOKID9/xSlackSecret4f9a2c",
        n8n_callback_url=f"{base}/webhook/n8nPathToken81d3?token=n8nQueryToken5e7b",
        notify_timeout=0.2,
        notify_retry_hours=0.0005,
    )
    if failure == "500":
        state.down, state.failure_status = True, 500
    elif failure == "timeout":
        state.delay = 0.5
    lead_id = add_ready_lead(engine, cfg)
    with caplog.at_level(logging.DEBUG, logger="lead_engine"):
        run_jobs_until_idle(engine, cfg)

    notify_jobs = [job for job in jobs_of(engine, lead_id) if job.kind.startswith("notify_")]
    assert [job.status for job in notify_jobs] == ["dead", "dead"]
    errors = [job.last_error or "" for job in notify_jobs]
    # Still enough to act on: which request, to which host, and what went wrong.
    assert all(error.startswith("not delivered within 0.0005 h of the event: ") for error in errors), errors
    assert all(f"POST {base} " in error for error in errors), errors
    with read_session(engine) as session:
        events = [
            f"{event.action} {json.dumps(event.detail)}" for event in list_events(session=session, lead_id=lead_id)
        ]
    assert sum(event.startswith("notification_failed") for event in events) == 2
    logged = [f"{record.getMessage()} {record.__dict__}" for record in caplog.records]
    assert sum("job.retry" in line for line in logged) >= 2
    for text in [*errors, *events, *logged]:
        assert not [secret for secret in WEBHOOK_SECRETS if secret in text], text


def _n8n_only(cfg: Settings) -> Settings:
    return cfg.model_copy(update={"slack_webhook_url": None})


def _age_notices(engine: Engine, lead_id: str, seconds: float) -> None:
    # As if the event had happened ``seconds`` ago: its notice carries the time it happened.
    with Session(engine) as session, session.begin():
        for job in session.scalars(select(Job).where(col(Job.lead_id) == lead_id)):
            if job.kind.startswith("notify_"):
                occurred = datetime.fromisoformat(job.payload["occurred_at"]) - timedelta(seconds=seconds)
                job.payload = {**job.payload, "occurred_at": occurred.isoformat()}


def _announce_synced(engine: Engine, cfg: Settings, **lead: Any) -> str:
    lead_id = add_ready_lead(engine, cfg, queue=False, **lead)
    with Session(engine) as session, session.begin():
        row = session.get(Lead, lead_id)
        assert row is not None
        row.status, row.company_explorer_id = "synced", "42"
        enqueue_notifications(session=session, settings=cfg, lead=row, event="synced")
    return lead_id


def test_n8n_restarting_with_404_gets_the_event_once_with_one_webhook_id(
    engine: Engine, cfg: Settings, sink: tuple[SinkState, str]
) -> None:
    state, _ = sink
    only_n8n = _n8n_only(cfg)
    state.fail_next(3, 404)  # n8n answers 404 until its webhooks are registered again
    lead_id = _announce_synced(engine, only_n8n, company="Müller & Söhne GmbH")
    run_jobs_until_idle(engine, only_n8n)

    assert [job.status for job in jobs_of(engine, lead_id)] == ["done"]
    attempts = state.attempts
    assert len(attempts) == 4 and len(state.on("/n8n")) == 1
    # A Standard Webhooks receiver drops repeats by webhook-id: it must be the same on every retry.
    assert {attempt.headers["webhook-id"] for attempt in attempts} == {attempts[0].json["id"]}
    assert all(Webhook(WEBHOOK_SECRET).verify(attempt.body, attempt.headers) for attempt in attempts)
    # UTF-8 on the wire, not \u escapes: a receiver that re-serialises the body still gets the same text.
    assert "Müller & Söhne GmbH".encode() in attempts[0].body


def test_a_404_long_after_the_event_means_the_webhook_is_gone(
    engine: Engine, cfg: Settings, sink: tuple[SinkState, str]
) -> None:
    state, _ = sink
    only_n8n = _n8n_only(cfg)
    state.down, state.failure_status = True, 404
    lead_id = _announce_synced(engine, only_n8n)
    _age_notices(engine, lead_id, WEBHOOK_MISSING_GRACE_SECONDS + 60)
    run_jobs_until_idle(engine, only_n8n)
    [job] = jobs_of(engine, lead_id)
    assert (job.status, job.attempts) == ("dead", 1) and "answered 404" in (job.last_error or "")


def test_an_outage_is_retried_for_the_whole_window_then_given_up(
    engine: Engine, cfg: Settings, sink: tuple[SinkState, str]
) -> None:
    state, _ = sink
    only_n8n = _n8n_only(cfg)
    state.down, state.failure_status = True, 503
    young = _announce_synced(engine, only_n8n)
    old = _announce_synced(engine, only_n8n, email="other@muster.de")
    _age_notices(engine, old, only_n8n.notify_retry_hours * 3600 + 60)
    with Session(engine) as session:
        due = session.scalars(select(Job).where(col(Job.lead_id) == young)).one()
    # Ten failed attempts in a row used to be the end; within the window they are just more retries.
    for _ in range(12):
        run_due_jobs(engine, only_n8n)
        with Session(engine) as session, session.begin():
            session.execute(update(Job).where(col(Job.id) == due.id).values(run_after=utcnow()))
    [young_job], [old_job] = jobs_of(engine, young), jobs_of(engine, old)
    assert young_job.status == "queued" and young_job.attempts >= 12
    assert old_job.status == "dead" and old_job.attempts == 1
    assert (old_job.last_error or "").startswith("not delivered within 24 h of the event: POST ")
