"""The command line: first-run secrets, and one UI process that also serves the API."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from lead_engine.cli import main
from lead_engine.core.env_file import ensure_env_file
from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.models import Lead
from lead_engine.core.operators import authenticate
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.servers import ROOT, engine_process, free_port, wait_for_http

FIXTURES = Path(__file__).parent / "fixtures" / "emails"


def test_init_env_generates_secrets_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LEAD_ENGINE_LOG_LEVEL=DEBUG")
    main(["init-env", "--path", str(env_file)])
    out = capsys.readouterr().out
    assert "generated LEAD_ENGINE_API_TOKEN, LEAD_ENGINE_UI_USERS" in out and "first sign-in: name admin" in out
    first = env_file.read_text()
    assert first.startswith("LEAD_ENGINE_LOG_LEVEL=DEBUG\nLEAD_ENGINE_API_TOKEN=")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert ensure_env_file(env_file) == []
    assert env_file.read_text() == first
    # The first operator is named: their name, not "operator", goes on every change they make.
    password = re.search(r"name admin, password (\S+)\.", first)
    assert password is not None and "LEAD_ENGINE_UI_PASSWORD" not in first
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert authenticate(settings, "admin", password.group(1)) == "admin"
    assert authenticate(settings, "", password.group(1)) is None


def test_operators_are_added_reset_and_removed_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    main(["init-env", "--path", str(env_file)])
    main(["operator", "add", "anna", "--path", str(env_file)])
    anna = re.search(r"anna signs in with this password: (\S+)", capsys.readouterr().out)
    assert anna is not None
    monkeypatch.setattr("sys.stdin", io.StringIO("a new password for admin\n"))
    main(["operator", "add", "admin", "--password-stdin", "--path", str(env_file)])
    assert "First sign-in" not in env_file.read_text()  # the generated password's note goes with it
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert authenticate(settings, "anna", anna.group(1)) == "anna"
    assert authenticate(settings, "admin", "a new password for admin") == "admin"
    capsys.readouterr()
    main(["operator", "list", "--path", str(env_file)])
    assert capsys.readouterr().out.split() == ["admin", "anna"]
    main(["operator", "remove", "anna", "--path", str(env_file)])
    assert authenticate(Settings(_env_file=env_file), "anna", anna.group(1)) is None  # type: ignore[call-arg]
    for wrong in (["remove", "bob"], ["add", "two words"], ["add"]):
        with pytest.raises(SystemExit) as refused:
            main(["operator", *wrong, "--path", str(env_file)])
        assert isinstance(refused.value.code, str)  # a sentence, not a traceback


@pytest.mark.slow
def test_ui_process_serves_the_embedded_api_before_any_browser(tmp_path: Path) -> None:
    api_port, ui_port = free_port(), free_port()
    env = {
        "LEAD_ENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'leads.db'}",
        "LEAD_ENGINE_API_TOKEN": API_TOKEN,
        "LEAD_ENGINE_UI_PASSWORD": "secret",
        "LEAD_ENGINE_API_PORT": str(api_port),
        "LEAD_ENGINE_UI_PORT": str(ui_port),
    }
    with engine_process("ui", env, cwd=tmp_path, health_url=f"http://127.0.0.1:{api_port}/api/health") as ui:
        wait_for_http(f"http://127.0.0.1:{ui_port}/_stcore/health", process=ui)


def _cli(settings: Settings, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEAD_ENGINE_DATABASE_URL": settings.database_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lead_engine", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_reparse_dry_run_shows_what_a_parser_change_alters_and_applies_it(
    client: httpx.Client, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    raw = (FIXTURES / "tt_plain_standard.eml").read_bytes()
    lead_id = client.post("/api/ingest", content=raw, headers={"Content-Type": "message/rfc822"}).json()["lead_id"]
    run_due_jobs(engine, settings)
    # As an older parser stored it: a wrong phone; and an operator's correction of the company.
    with Session(engine) as session:
        session.execute(update(Lead).where(col(Lead.id) == lead_id).values(phone="+4935145678"))
        session.commit()
    version = client.get(f"/api/leads/{lead_id}").json()["version"]
    assert client.patch(f"/api/leads/{lead_id}", json={"version": version, "company": "Schmidt KG"}).status_code == 200

    dry = _cli(settings, "reparse", "--dry-run", cwd=tmp_path)

    assert dry.returncode == 0, dry.stderr
    assert "1 lead(s) would change" in dry.stdout
    assert re.search(rf"phone\s+1\s+{lead_id}: '\+4935145678' → '\+493514567890'", dry.stdout), dry.stdout
    assert "company" not in dry.stdout.split("would change", 1)[1]
    assert client.get(f"/api/leads/{lead_id}").json()["phone"] == "+4935145678"  # nothing written

    applied = _cli(settings, "reparse", lead_id, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    run_due_jobs(engine, settings)
    lead = client.get(f"/api/leads/{lead_id}").json()
    assert (lead["phone"], lead["company"]) == ("+493514567890", "Schmidt KG")


@pytest.mark.parametrize(
    "command", [["reparse", "deadbeef"], ["reparse", "--dry-run", "deadbeef"], ["sync", "deadbeef"]]
)
def test_unknown_lead_is_one_readable_line_and_a_failure(
    command: list[str], settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    result = _cli(settings, *command, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: lead deadbeef not found"  # after the log lines


def test_info_names_the_ports_in_use(tmp_path: Path) -> None:
    env = {**os.environ, "LEAD_ENGINE_API_PORT": "8800", "LEAD_ENGINE_UI_PORT": "8801", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "lead_engine", "info"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert "http://127.0.0.1:8800/docs" in result.stdout and "http://127.0.0.1:8801 " in result.stdout
    # run.sh prints this banner instead of ports of its own.
    run_sh = (ROOT / "run.sh").read_text()
    assert "lead_engine info" in run_sh and ":8000" not in run_sh and ":8501" not in run_sh


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    with pytest.raises(SystemExit):
        main(["init-env", "--help"])

    output = capsys.readouterr().out
    assert "``" not in output and "the file to write" in output
