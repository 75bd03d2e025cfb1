"""Routing and approvals over the real API: the daily limit, the confidence bar, junk and restore, overdue
reviews, bulk actions, the figures, and the score following an operator's correction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from lead_engine.api import create_app
from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.models import Lead, utcnow
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.company_explorer_server import ExplorerState
from tests.support.ready_leads import jobs_of, sync_settings
from tests.support.servers import serve_app

MIME = {"Content-Type": "message/rfc822"}


@contextmanager
def api(settings: Settings) -> Iterator[httpx.Client]:
    with (
        serve_app(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30) as client,
    ):
        yield client


def quote_request(n: int) -> dict[str, Any]:
    """A TradingTwins enquiry that qualifies cleanly (hot), distinct per n."""
    body = (
        f"Sie haben eine neue Anfrage erhalten.\n\nFirma: Kunde {n} Logistik GmbH\nAnsprechpartner: Eva Kunde\n"
        f"E-Mail: eva@kunde{n}-logistik.de\nTelefon: 030 1234{n:03d}\nNachricht: Bitte dringend ein Angebot für "
        "20 Paletten.\n\nIhr tradingtwins Team"
    )
    return {"subject": f"Neue Anfrage {n}", "sender": "noreply@tradingtwins.com", "raw_body": body}


def ingest(client: httpx.Client, payload: dict[str, Any]) -> str:
    response = client.post("/api/ingest", json=payload)
    assert response.status_code == 202, response.text
    return str(response.json()["lead_id"])


def lead(client: httpx.Client, lead_id: str) -> dict[str, Any]:
    return client.get(f"/api/leads/{lead_id}").json()


AUTO_REPLY = (
    b"From: Thomas Weber <t.weber@weber-gmbh.de>\r\nTo: info@example-seller.de\r\nSubject: Re: Ihre Anfrage\r\n"
    b"Message-ID: <ooo-1@weber-gmbh.de>\r\nAuto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8"
    b"\r\n\r\nDanke, Ihre Nachricht wird nach meiner R\xc3\xbcckkehr beantwortet.\r\n"
)


def test_automatic_approval_stops_at_the_daily_limit_and_says_so(settings: Settings, engine: Engine) -> None:
    with api(settings.model_copy(update={"auto_approve_daily_limit": 2})) as client:
        ids = [ingest(client, quote_request(n)) for n in range(3)]
        run_due_jobs(engine, settings.model_copy(update={"auto_approve_daily_limit": 2}))
        leads = [lead(client, lead_id) for lead_id in ids]
        assert [item["status"] for item in leads] == ["ready", "ready", "needs_review"]
        assert all(item["grade"] == "hot" for item in leads)
        assert leads[2]["reasons"] == ["daily auto-approval limit of 2 reached"]
        assert leads[0]["reasons"][0].startswith("approved automatically: score")
        assert "auto_approved" in [event["action"] for event in leads[0]["events"]]
        stats = client.get("/api/approvals/stats").json()
        assert (stats["auto_approved_today"], stats["daily_limit"], stats["remaining_today"]) == (2, 2, 0)
        assert stats["pending"] == 1 and stats["overdue"] == 0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"auto_approve_daily_limit": 0}, "every lead is approved by a person (daily auto-approval limit is 0)"),
        ({"auto_approve_confidence": 0.99}, "fields read with 95% certainty; approval without review needs 99%"),
    ],
)
def test_a_person_approves_when_the_gate_says_so(
    settings: Settings, engine: Engine, overrides: dict[str, Any], reason: str
) -> None:
    gated = settings.model_copy(update=overrides)
    with api(gated) as client:
        lead_id = ingest(client, quote_request(1))
        run_due_jobs(engine, gated)
        judged = lead(client, lead_id)
        assert judged["status"] == "needs_review" and judged["grade"] == "hot"
        assert judged["reasons"] == [reason]


def test_junk_is_rejected_never_synced_and_restored_for_good(
    settings: Settings, engine: Engine, explorer: tuple[ExplorerState, str]
) -> None:
    synced = sync_settings(settings, explorer[1])
    with api(synced) as client:
        response = client.post("/api/ingest", content=AUTO_REPLY, headers=MIME)
        assert response.status_code == 202, response.text
        lead_id = response.json()["lead_id"]
        run_due_jobs(engine, synced)
        junk = lead(client, lead_id)
        assert junk["status"] == "rejected" and junk["qualified"] is False
        assert junk["reasons"] == ["rejected as junk: auto-reply (Auto-Submitted: auto-replied)"]
        assert [job.kind for job in jobs_of(engine, lead_id)] == ["process"]  # no sync, no notification
        assert explorer[0].requests == []
        restored = client.post(f"/api/leads/{lead_id}/restore", json={"version": junk["version"], "by": "anna"})
        assert restored.status_code == 200, restored.text
        assert restored.json()["status"] == "needs_review" and restored.json()["review_due_at"]
        assert restored.json()["reasons"][0] == "restored by api:anna"
        assert client.post(f"/api/leads/{lead_id}/restore", json={}).status_code == 409  # not rejected now
        client.post(f"/api/leads/{lead_id}/reparse")
        run_due_jobs(engine, synced)
        again = lead(client, lead_id)
        assert again["status"] == "needs_review", again["reasons"]  # the reparse did not reject it again
        actors = [(event["action"], event["actor"]) for event in again["events"]]
        assert ("rejected", "system") in actors and ("restored", "api:anna") in actors
        assert explorer[0].requests == []  # review, not sync: a person decides next


def test_an_overdue_review_is_flagged_and_first_in_the_queue(settings: Settings, engine: Engine) -> None:
    with api(settings) as client:
        older = ingest(client, {"subject": "Frage", "sender": "a@kunde-a.de", "raw_body": "Was kostet das?"})
        newer = ingest(client, {"subject": "Frage", "sender": "b@kunde-b.de", "raw_body": "Und das hier?"})
        run_due_jobs(engine, settings)
        for lead_id in (older, newer):
            judged = lead(client, lead_id)
            assert judged["status"] == "needs_review" and judged["overdue"] is False
            due = judged["review_due_at"]
            assert due is not None
        with Session(engine) as session:  # a day passes for the older one
            past = utcnow() - timedelta(minutes=5)
            session.execute(update(Lead).where(col(Lead.id) == older).values(review_due_at=past))
            session.commit()
        assert lead(client, older)["overdue"] is True and lead(client, newer)["overdue"] is False
        queue = client.get("/api/leads", params={"status": "needs_review", "order": "review"}).json()
        assert [item["id"] for item in queue["items"]] == [older, newer]
        assert client.get("/api/approvals/stats").json()["overdue"] == 1


def test_bulk_actions_do_what_they_can_and_name_what_they_refused(settings: Settings, engine: Engine) -> None:
    with api(settings) as client:
        good = ingest(client, quote_request(7))
        nothing = ingest(client, {"subject": "Frage", "raw_body": "Was kostet das?"})
        run_due_jobs(engine, settings.model_copy(update={"auto_approve_daily_limit": 0}))
        body = {"ids": [good, nothing, "no-such-lead"], "action": "approve", "reason": "checked", "by": "anna"}
        result = client.post("/api/leads/bulk", json=body).json()
        assert result["done"] == [good]
        assert set(result["failed"]) == {nothing, "no-such-lead"}
        assert "company" in result["failed"][nothing] and "not found" in result["failed"]["no-such-lead"]
        approved = lead(client, good)
        assert approved["status"] == "ready" and approved["reasons"] == ["approved by api:anna: checked"]
        rejected = client.post("/api/leads/bulk", json={"ids": [nothing], "action": "reject", "reason": "spam"})
        assert rejected.json() == {"action": "reject", "done": [nothing], "failed": {}}
        assert client.post("/api/leads/bulk", json={"ids": [good], "action": "delete"}).status_code == 422
        assert client.post("/api/leads/bulk", json={"ids": [], "action": "reject"}).status_code == 422
        stats = client.get("/api/approvals/stats").json()
        assert (stats["approved_today"], stats["rejected_today"], stats["junk_today"]) == (1, 1, 0)


def test_a_correction_scores_the_lead_again(settings: Settings, engine: Engine) -> None:
    with api(settings) as client:
        lead_id = ingest(client, {"subject": "Frage", "sender": "a@kunde-a.de", "raw_body": "Was kostet das?"})
        run_due_jobs(engine, settings)
        before = lead(client, lead_id)
        patched = client.patch(
            f"/api/leads/{lead_id}",
            json={"version": before["version"], "company": "Kunde A GmbH", "budget": "ca. 30.000 EUR"},
        ).json()
        assert patched["score"] > before["score"]
        reasons = [item["reason"] for item in patched["score_components"]]
        assert "budget given: 30 000 EUR" in reasons and "company named" in reasons
        assert sum(item["points"] for item in patched["score_components"]) == patched["score"]
        assert patched["status"] == "needs_review"  # a correction re-scores; the person still decides


def test_the_daily_limit_holds_exactly_with_workers_in_parallel(settings: Settings, engine: Engine) -> None:
    capped = settings.model_copy(update={"auto_approve_daily_limit": 5, "worker_batch_size": 2})
    with api(capped) as client:
        ids = [ingest(client, quote_request(n)) for n in range(16)]
        workers = [
            threading.Thread(target=run_due_jobs, args=(engine, capped), kwargs={"worker": f"w{n}"}) for n in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        statuses = [lead(client, lead_id)["status"] for lead_id in ids]
        assert statuses.count("ready") == 5 and statuses.count("needs_review") == 11, statuses
        assert client.get("/api/approvals/stats").json()["auto_approved_today"] == 5
