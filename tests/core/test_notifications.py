"""Slack and n8n notifications: their content, the signature, and retries that never touch the lead's status."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from standardwebhooks import Webhook

from lead_engine.core.db import read_session
from lead_engine.core.leads import list_events
from lead_engine.core.models import Lead
from lead_engine.core.notifications import LeadNotice, enqueue_notifications, n8n_body, slack_text
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
    state.down, state.failure_status = True, 404
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
    assert all(error.startswith(f"gave up after 10 attempts: POST {base} ") for error in errors)
    with read_session(engine) as session:
        events = [
            f"{event.action} {json.dumps(event.detail)}" for event in list_events(session=session, lead_id=lead_id)
        ]
    assert sum(event.startswith("notification_failed") for event in events) == 2
    logged = [f"{record.getMessage()} {record.__dict__}" for record in caplog.records]
    assert sum("job.retry" in line for line in logged) == 18
    for text in [*errors, *events, *logged]:
        assert not [secret for secret in WEBHOOK_SECRETS if secret in text], text
