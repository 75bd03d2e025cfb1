"""A rules edit while the worker runs: every stored lead is scored again, statuses and versions untouched."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from sqlalchemy import Engine

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.qualification.rules import DEFAULT_RULES_FILE
from lead_engine.core.settings import Settings
from lead_engine.worker import RulesWatch

REQUEST = (
    "Sie haben eine neue Anfrage erhalten.\n\nFirma: Kunde GmbH\nE-Mail: info@kunde.de\n"
    "Nachricht: Bitte ein Angebot.\n\nIhr tradingtwins Team"
)


def test_a_rules_edit_rescores_the_stored_leads(
    client: httpx.Client, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(DEFAULT_RULES_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    with_file = settings.model_copy(update={"rules_file": str(rules_file)})
    lead_id = client.post(
        "/api/ingest", json={"subject": "Neue Anfrage", "sender": "noreply@tradingtwins.com", "raw_body": REQUEST}
    ).json()["lead_id"]
    run_due_jobs(engine, with_file)
    before = client.get(f"/api/leads/{lead_id}").json()
    watch = RulesWatch(engine, with_file)
    watch.check()  # nothing changed: nothing happens
    assert client.get(f"/api/leads/{lead_id}").json() == before

    text = rules_file.read_text(encoding="utf-8").replace("business_domain = 10", "business_domain = 0", 1)
    rules_file.write_text(text, encoding="utf-8")
    os.utime(rules_file, ns=(1, 10**18))
    watch.check()

    after = client.get(f"/api/leads/{lead_id}").json()
    assert after["score"] == before["score"] - 10
    assert {"component": "fit", "points": 0, "reason": "company domain kunde.de"} in after["score_components"]
    assert (after["status"], after["version"]) == (before["status"], before["version"])
