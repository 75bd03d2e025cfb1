"""After the 202: the worker parses, scores and routes every stored e-mail, whatever it holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.models import RawMessage
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.servers import engine_process

FIXTURES = Path(__file__).parent / "fixtures"
TORTURE = sorted((FIXTURES / "mime_torture").glob("msg_*.txt"))
MIME = {"Content-Type": "message/rfc822"}


def reprocessed_with_raw(client: httpx.Client, engine: Engine, settings: Settings, raw: bytes) -> dict[str, Any]:
    """A lead whose stored raw request is replaced by ``raw`` before the worker parses it; as the API shows it."""
    lead_id = client.post("/api/ingest", json={"subject": "x", "raw_body": "Firma: A GmbH"}).json()["lead_id"]
    with Session(engine) as session:
        session.execute(update(RawMessage).values(body=raw))
        session.commit()
    run_due_jobs(engine, settings)
    lead: dict[str, Any] = client.get(f"/api/leads/{lead_id}").json()
    return lead


def test_tradingtwins_lead_becomes_ready(client: httpx.Client, engine: Engine, settings: Settings) -> None:
    raw = (FIXTURES / "emails" / "tt_plain_standard.eml").read_bytes()
    lead_id = client.post("/api/ingest", content=raw, headers=MIME).json()["lead_id"]
    assert run_due_jobs(engine, settings) == 1
    lead = client.get(f"/api/leads/{lead_id}").json()
    assert lead["status"] == "ready", lead["reasons"]
    assert lead["qualified"] is True and lead["score"] >= 50 and lead["grade"] in ("warm", "hot")
    assert sum(item["points"] for item in lead["score_components"]) == lead["score"]
    assert lead["company"] and lead["fields"]["company"]["provenance"] == "rule"
    assert [event["action"] for event in lead["events"]] == ["received", "parsed", "auto_approved"]


def test_unreadable_stored_message_goes_to_review_with_raw_kept(
    client: httpx.Client, engine: Engine, settings: Settings
) -> None:
    lead = reprocessed_with_raw(client, engine, settings, b"\xff\xfe not json")
    assert lead["status"] == "needs_review"
    assert any("raw message unreadable" in reason for reason in lead["reasons"])


@pytest.mark.parametrize("path", TORTURE, ids=lambda path: path.name)
def test_torture_corpus_through_the_real_ingest_path(
    client: httpx.Client, engine: Engine, settings: Settings, path: Path
) -> None:
    response = client.post("/api/ingest", content=path.read_bytes(), headers=MIME)
    assert response.status_code in (202, 422), response.text
    if response.status_code == 422:  # no header block, or nothing at all to parse: refused with a reason
        assert any(reason in response.json()["detail"] for reason in ("no mail headers", "nothing to parse"))
        return
    run_due_jobs(engine, settings)
    lead = client.get(f"/api/leads/{response.json()['lead_id']}").json()
    assert lead["status"] in ("ready", "needs_review", "rejected")
    assert lead["status"] == "ready" or lead["reasons"]
    if lead["status"] == "rejected":  # bounces and list mail in the torture corpus: junk, with the reason
        assert lead["reasons"][0].startswith("rejected as junk: ")


@pytest.mark.slow
def test_worker_process_drains_the_queue(api_url: str, settings: Settings, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    lead_ids = [
        httpx.post(
            f"{api_url}/api/ingest",
            json={"subject": f"Anfrage {n}", "raw_body": f"Firma: Kunde {n} GmbH\nE-Mail: info@kunde{n}.de"},
            headers=headers,
        ).json()["lead_id"]
        for n in range(20)
    ]
    env = {"LEAD_ENGINE_DATABASE_URL": settings.database_url, "LEAD_ENGINE_WORKER_POLL_SECONDS": "0.05"}
    with engine_process("worker", env, cwd=tmp_path):
        deadline = time.monotonic() + 60
        while True:
            statuses = {
                httpx.get(f"{api_url}/api/leads/{lead_id}", headers=headers).json()["status"] for lead_id in lead_ids
            }
            if "received" not in statuses or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert statuses <= {"ready", "needs_review"}, statuses
    assert "worker.started" in (tmp_path / "worker.log").read_text()


def test_a_subject_only_request_stored_by_an_earlier_version_is_still_parsed(
    client: httpx.Client, engine: Engine, settings: Settings
) -> None:
    # Intake now refuses a request without mail text; what was stored before it did must still be read.
    lead = reprocessed_with_raw(client, engine, settings, b'{"subject": "Anfrage von Muster GmbH"}')
    assert lead["status"] == "needs_review"
    assert not any("unreadable" in reason for reason in lead["reasons"]), lead["reasons"]
