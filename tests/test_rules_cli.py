"""`python -m lead_engine rules check`: a candidate rules file replayed over the stored leads before switching,
and the programs refusing to start on a broken one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import Engine

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.qualification.rules import DEFAULT_RULES_FILE
from lead_engine.core.settings import Settings
from tests.support.servers import ROOT

INFO_REQUEST = (
    "Sie haben eine neue Anfrage erhalten.\n\nFirma: Kunde Info GmbH\nE-Mail: info@kunde-info.de\n"
    "Nachricht: Bitte senden Sie uns Informationen.\n\nIhr tradingtwins Team"
)
QUOTE_REQUEST = (
    INFO_REQUEST.replace("Kunde Info", "Kunde Angebot")
    .replace("kunde-info", "kunde-angebot")
    .replace("Bitte senden Sie uns Informationen.", "Wir brauchen dringend ein Angebot, Budget 30.000 EUR.")
)
AUTO_REPLY = (
    b"From: Karen Miles <k.miles@miles-co.de>\r\nSubject: Automatic reply: Your offer\r\nMessage-ID: <ooo@miles>\r\n"
    b"Content-Type: text/plain\r\n\r\nI am out of the office until Monday.\r\n"
)


def cli(settings: Settings, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LEAD_ENGINE_DATABASE_URL": settings.database_url, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "lead_engine", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def candidate(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "candidate.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_rules_check_shows_how_routing_would_change_and_writes_nothing(
    client: httpx.Client, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    sender = "noreply@tradingtwins.com"
    info = client.post("/api/ingest", json={"subject": "Neue Anfrage", "sender": sender, "raw_body": INFO_REQUEST})
    client.post("/api/ingest", json={"subject": "Neue Anfrage 2", "sender": sender, "raw_body": QUOTE_REQUEST})
    client.post("/api/ingest", content=AUTO_REPLY, headers={"Content-Type": "message/rfc822"})
    run_due_jobs(engine, settings)
    info_id = info.json()["lead_id"]
    before = client.get(f"/api/leads/{info_id}").json()
    assert before["status"] == "needs_review" and before["grade"] == "cold"

    lowered = candidate(tmp_path, "qualified = 50", "qualified = 30")
    result = cli(settings, "rules", "check", str(lowered), "--since", "1d", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 lead(s) received since" in out
    assert re.search(r"auto-approved\s+1\s+2\s+\+1\n", out), out
    assert re.search(r"review\s+1\s+0\s+-1\n", out), out
    assert re.search(r"rejected\s+1\s+1\s+\+0\n", out), out
    assert "review → auto-approved: 1" in out
    assert re.search(
        rf"{info_id}\s+{before['score']}\s+→\s+{before['score']}\s+Kunde Info GmbH\s+review → auto-approved", out
    )
    assert client.get(f"/api/leads/{info_id}").json() == before  # a replay, nothing written


def test_a_broken_candidate_is_refused_with_every_problem(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    broken = candidate(tmp_path, "urgency = {", "urgncy = {")
    result = cli(settings, "rules", "check", str(broken), cwd=tmp_path)
    assert result.returncode == 1
    assert "intent.urgncy: unknown setting (misspelt?)" in result.stderr
    assert "intent.urgency: Field required" in result.stderr


def test_the_worker_refuses_to_start_on_a_broken_rules_file(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    broken = candidate(tmp_path, 'icp_countries = ["DE", "AT", "CH"]', 'icp_countries = ["Deutschland"]')
    result = cli(settings, "worker", cwd=tmp_path, LEAD_ENGINE_RULES_FILE=str(broken))
    assert result.returncode == 1
    assert "fit.icp_countries: use two-letter country codes (DE, AT, CH), not Deutschland" in result.stderr
