"""The shipped n8n workflows in a real n8n 2.x, in front of the real engine: mails in, events out.

n8n and Node 24 come from npm through tests/support/install_n8n.sh (cached outside the checkout). These tests
skip only when that install itself is impossible, and say so in the summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from lead_engine.core.db import read_session
from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.leads import list_events
from lead_engine.core.notifications import LeadNotice, N8nNotifier
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.company_explorer_server import ExplorerState
from tests.support.dovecot import Dovecot
from tests.support.imap_leads import poller_env, stored_leads, wait_until
from tests.support.n8n import N8n, install_n8n, running_n8n, shipped_workflow
from tests.support.ready_leads import WEBHOOK_SECRET, add_ready_lead, jobs_of, sync_settings
from tests.support.servers import engine_process, free_port
from tests.support.sink_server import SinkState

pytestmark = [pytest.mark.n8n, pytest.mark.slow, pytest.mark.imap]

FIXTURES = Path(__file__).parent / "fixtures" / "emails"
# calendly_de_html names the lead only in Reply-To, which n8n keeps in `metadata`.
MAILS = ("tt_plain_standard.eml", "tt_swiss_html_preferred.eml", "cf7_de_default.eml", "calendly_de_html.eml")
AUTO_REPLY = Path(__file__).parent / "fixtures" / "junk" / "autoreply_header_only_de.eml"
SECRET_PLACEHOLDER = "whsec_PASTE_LEAD_ENGINE_WEBHOOK_SECRET"
SLACK_PLACEHOLDER = "https://hooks.slack.com/services/REPLACE/WITH/YOUR-WEBHOOK"


@pytest.fixture(scope="module")
def n8n_install() -> Path:
    try:
        return install_n8n()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"N8N COULD NOT BE INSTALLED, the n8n end-to-end tests did not run: {exc}")


@pytest.fixture
def n8n(n8n_install: Path) -> Iterator[N8n]:
    with running_n8n(n8n_install) as instance:
        yield instance


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: one real n8n per test is slow, and both backends are covered by the other tests."""
    return f"sqlite:///{tmp_path}/leads.db"


def credentials(dovecot: Dovecot) -> list[dict[str, Any]]:
    """The two credentials the workflows name, as n8n/credentials.example.json lays them out, filled in."""
    template = json.loads((Path(__file__).parents[1] / "n8n" / "credentials.example.json").read_text())
    imap, token = template
    imap["data"].update(user=dovecot.user, password=dovecot.password, host="127.0.0.1", port=dovecot.port, secure=False)
    token["data"]["value"] = f"Bearer {API_TOKEN}"
    return [imap, token]


def api_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    return {
        "LEAD_ENGINE_DATABASE_URL": settings.database_url,
        "LEAD_ENGINE_API_TOKEN": API_TOKEN,
        "LEAD_ENGINE_API_PORT": str(port),
        **extra,
    }


def start_with_trigger(n8n: N8n, dovecot: Dovecot) -> None:
    """Start n8n and wait until its Email Trigger is logged in: mail that arrives before is seen only later."""
    logins = dovecot.log.count("Login: user=<")
    n8n.start()
    wait_until(lambda: dovecot.log.count("Login: user=<") > logins, "n8n's Email Trigger to log in", timeout=120)
    time.sleep(1)  # its first search for unseen mail follows the login


def set_up_intake(n8n: N8n, dovecot: Dovecot, alerts_url: str, api_port: int, *, signed: bool = False) -> None:
    """Import the credentials, the alert workflow and an intake workflow with their placeholders filled in."""
    placeholders = {"http://127.0.0.1:8000": f"http://127.0.0.1:{api_port}", SLACK_PLACEHOLDER: alerts_url}
    if signed:
        placeholders[SECRET_PLACEHOLDER] = WEBHOOK_SECRET  # pasted into the Code node, as the README says
    # The signed workflow needs the mailbox only: no API token in n8n at all.
    n8n.import_credentials(credentials(dovecot)[:1] if signed else credentials(dovecot))
    n8n.import_workflow(shipped_workflow("alerts.json", placeholders))
    n8n.import_workflow(shipped_workflow("intake_signed.json" if signed else "intake.json", placeholders))


def expected_lead(name: str) -> dict[str, Any]:
    expected = json.loads((FIXTURES / name).with_suffix(".json").read_text(encoding="utf-8"))
    return {field: expected.get(field) for field in CANONICAL_FIELDS}


def test_mails_become_correct_leads_through_the_shipped_workflow(
    settings: Settings, engine: Engine, dovecot: Dovecot, n8n: N8n, sink: tuple[SinkState, str], tmp_path: Path
) -> None:
    port = free_port()
    set_up_intake(n8n, dovecot, f"{sink[1]}/alerts", port)
    parsing = settings.model_copy(update={"own_domains": ["mustersolar.de"]})  # as the fixtures expect
    with engine_process("api", api_env(settings, port), cwd=tmp_path, health_url=f"http://127.0.0.1:{port}/api/health"):
        start_with_trigger(n8n, dovecot)
        for name in MAILS:
            dovecot.deliver((FIXTURES / name).read_bytes())
        # An out-of-office reply that only its headers give away: the workflow must hand them on.
        dovecot.deliver(AUTO_REPLY.read_bytes())
        arrived = len(MAILS) + 1
        wait_until(lambda: len(stored_leads(engine)) == arrived, "every mail to arrive through n8n", timeout=120)
        run_due_jobs(engine, parsing)

    leads = {lead.email: lead for lead in stored_leads(engine)}
    auto_reply = leads.pop("h.kraus@kraus-spedition.de")
    assert auto_reply.status == "rejected", auto_reply.reasons
    assert auto_reply.reasons == ["rejected as junk: auto-reply (Auto-Submitted: auto-replied)"]
    for name in MAILS:
        want = expected_lead(name)
        lead = leads[want["email"]]
        assert {field: getattr(lead, field) for field in CANONICAL_FIELDS} == want, name
    assert all(execution["status"] == "success" for execution in n8n.executions()), n8n.executions()
    assert sink[0].on("/alerts") == []


def test_the_signed_workflow_is_accepted_without_a_token(
    settings: Settings, engine: Engine, dovecot: Dovecot, n8n: N8n, sink: tuple[SinkState, str], tmp_path: Path
) -> None:
    port = free_port()
    set_up_intake(n8n, dovecot, f"{sink[1]}/alerts", port, signed=True)
    env = api_env(settings, port, LEAD_ENGINE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    with engine_process("api", env, cwd=tmp_path, health_url=f"http://127.0.0.1:{port}/api/health"):
        start_with_trigger(n8n, dovecot)
        dovecot.deliver((FIXTURES / MAILS[0]).read_bytes())
        wait_until(lambda: len(stored_leads(engine)) == 1, "the signed request to become a lead", timeout=120)
    [lead] = stored_leads(engine)
    assert lead.subject and "tradingtwins" in lead.subject
    assert sink[0].on("/alerts") == []


def test_the_api_down_for_30_seconds_loses_no_mail(
    settings: Settings, engine: Engine, dovecot: Dovecot, n8n: N8n, sink: tuple[SinkState, str], tmp_path: Path
) -> None:
    port = free_port()
    set_up_intake(n8n, dovecot, f"{sink[1]}/alerts", port)
    reconcile = {
        **poller_env(settings, dovecot),
        "LEAD_ENGINE_IMAP_MODE": "reconcile",
        "LEAD_ENGINE_IMAP_POLL_SECONDS": "2",
        # n8n's own retries take ~20 s; reconciliation fills in what is still missing after that.
        "LEAD_ENGINE_IMAP_RECONCILE_AFTER_SECONDS": "25",
    }
    health = f"http://127.0.0.1:{port}/api/health"
    with engine_process("poller", reconcile, cwd=tmp_path):
        wait_until(lambda: "Login: user=<" in dovecot.log, "the reconciling poller to log in")
        start_with_trigger(n8n, dovecot)
        with engine_process("api", api_env(settings, port), cwd=tmp_path, health_url=health):
            dovecot.deliver((FIXTURES / MAILS[0]).read_bytes())
            wait_until(lambda: len(stored_leads(engine)) == 1, "the first mail to arrive through n8n", timeout=120)
        down_since = time.monotonic()
        for name in MAILS[1:]:
            dovecot.deliver((FIXTURES / name).read_bytes())
        # n8n gives up on these after its retries, and says so through the error workflow.
        wait_until(lambda: sink[0].on("/alerts") != [], "n8n's alert about the refused mails", timeout=120)
        wait_until(lambda: len(stored_leads(engine)) == len(MAILS), "reconciliation to recover them", timeout=120)
        time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))
        with engine_process("api", api_env(settings, port), cwd=tmp_path, health_url=health):
            dovecot.deliver(_renamed(MAILS[0], "after the outage"))
            wait_until(lambda: len(stored_leads(engine)) == len(MAILS) + 1, "n8n to deliver again", timeout=120)

    alert = sink[0].on("/alerts")[0].json["text"]
    assert "Lead Engine: mailbox to ingest" in alert and "not accepted by Lead Engine" in alert, alert
    channels = sorted(_channel(engine, lead.id) for lead in stored_leads(engine))
    # The first mail and the one after the outage came through n8n; the ones sent while the API was down did not.
    assert channels == ["api", "api"] + ["reconciliation"] * (len(MAILS) - 1)
    statuses = [execution["status"] for execution in n8n.executions() if execution["workflow"] == "leadEngineIntake"]
    assert statuses.count("error") >= 1 and statuses.count("success") >= 2, statuses


def _renamed(name: str, marker: str) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    return raw.replace(b"Message-ID: <", f"Message-ID: <{marker.replace(' ', '-')}.".encode(), 1).replace(
        b"Subject: ", f"Subject: ({marker}) ".encode(), 1
    )


def _channel(engine: Engine, lead_id: str) -> str:

    with read_session(engine) as session:
        return next(
            event.actor for event in list_events(session=session, lead_id=lead_id) if event.action == "received"
        )


def test_a_synced_lead_reaches_slack_through_an_n8n_restart_once(
    settings: Settings,
    engine: Engine,
    n8n: N8n,
    explorer: tuple[ExplorerState, str],
    sink: tuple[SinkState, str],
) -> None:
    placeholders = {SECRET_PLACEHOLDER: WEBHOOK_SECRET, SLACK_PLACEHOLDER: f"{sink[1]}/slack"}
    n8n.import_workflow(shipped_workflow("alerts.json", placeholders))
    n8n.import_workflow(shipped_workflow("events_to_slack.json", placeholders))
    callback = f"{n8n.url}/webhook/lead-engine-events"
    cfg = sync_settings(settings, explorer[1], sink[1], n8n_callback_url=callback, slack_webhook_url=None)
    n8n.start(webhook_path="lead-engine-events")
    n8n.stop()  # a restart: the event is due while n8n is down, then while it registers its webhooks

    lead_id = add_ready_lead(engine, cfg, company="Bäckerei Müller GmbH")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        run_due_jobs(engine, cfg)
        time.sleep(0.2)
    [notify] = [job for job in jobs_of(engine, lead_id) if job.kind.startswith("notify_")]
    assert notify.status == "queued" and notify.attempts >= 2 and "failed" in (notify.last_error or "")

    n8n.start()  # no wait for the webhook: the first tries may meet n8n's 404
    wait_until(lambda: run_due_jobs(engine, cfg) >= 0 and _notified(engine, lead_id), "the event to be delivered")
    wait_until(lambda: len(sink[0].on("/slack")) == 1, "n8n's Slack message", timeout=60)
    [message] = sink[0].on("/slack")
    assert "Bäckerei Müller GmbH" in message.json["text"] and lead_id in message.json["text"]

    # The same event again (as a retry after a lost answer would send it): n8n drops it by its webhook-id.
    notice = LeadNotice.from_payload(jobs_of(engine, lead_id, notify.kind)[0].payload)
    with httpx.Client(timeout=10) as http:
        N8nNotifier(callback, http=http, secret=WEBHOOK_SECRET).send(notice)
        forged = http.post(callback, content=b'{"event":"lead.synced"}', headers={
            "webhook-id": "msg_forged", "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA", "content-type": "application/json",
        })  # fmt: skip
    assert forged.status_code == 401
    time.sleep(3)
    assert len(sink[0].on("/slack")) == 1


def _notified(engine: Engine, lead_id: str) -> bool:
    return any(job.kind.startswith("notify_") and job.status == "done" for job in jobs_of(engine, lead_id))
