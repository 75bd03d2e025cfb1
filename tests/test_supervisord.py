"""supervisord.conf parses, and every program it names starts: API, UI, worker and poller."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_TOKEN
from tests.support.servers import ROOT, engine_env, free_port, wait_for_http

pytestmark = pytest.mark.slow


def test_supervisord_conf_names_every_program() -> None:
    parser = configparser.RawConfigParser()
    parser.read(ROOT / "supervisord.conf")
    programs = {section.split(":", 1)[1] for section in parser.sections() if section.startswith("program:")}
    assert programs == {"api", "worker", "ui", "poller"}
    assert 'LEAD_ENGINE_EMBEDDED_API="false"' in parser.get("program:ui", "environment")


def test_supervisord_starts_every_program(tmp_path: Path) -> None:
    shutil.copy(ROOT / "supervisord.conf", tmp_path / "supervisord.conf")
    (tmp_path / "data").mkdir()
    api_port, ui_port = free_port(), free_port()
    env = engine_env(
        {
            "LEAD_ENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'leads.db'}",
            "LEAD_ENGINE_API_TOKEN": API_TOKEN,
            "LEAD_ENGINE_UI_PASSWORD": "secret",
            "LEAD_ENGINE_API_PORT": str(api_port),
            "LEAD_ENGINE_UI_PORT": str(ui_port),
            "LEAD_ENGINE_WORKER_POLL_SECONDS": "0.1",
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        }
    )
    supervisord = shutil.which("supervisord", path=str(Path(sys.executable).parent)) or "supervisord"
    log = (tmp_path / "supervisord.out").open("wb")
    process = subprocess.Popen(
        [supervisord, "-c", str(tmp_path / "supervisord.conf")], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    try:
        wait_for_http(f"http://127.0.0.1:{api_port}/api/health", timeout=60, process=process)
        wait_for_http(f"http://127.0.0.1:{ui_port}/_stcore/health", timeout=60, process=process)
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        created = httpx.post(
            f"http://127.0.0.1:{api_port}/api/ingest",
            json={"subject": "Anfrage", "raw_body": "Firma: Muster GmbH\nE-Mail: info@muster-gmbh.de"},
            headers=headers,
        )
        assert created.status_code == 202, created.text
        lead_url = f"http://127.0.0.1:{api_port}/api/leads/{created.json()['lead_id']}"
        deadline = time.monotonic() + 60
        while httpx.get(lead_url, headers=headers).json()["status"] == "received":
            assert time.monotonic() < deadline, "the worker did not process the lead"
            time.sleep(0.2)
        running = [f"success: {program} entered RUNNING state" for program in ("api", "worker", "ui", "poller")]
        deadline = time.monotonic() + 60
        log_file = tmp_path / "supervisord.out"
        while not all(line in (output := log_file.read_text(errors="replace")) for line in running):
            assert time.monotonic() < deadline, output[-3000:]
            time.sleep(0.2)
        assert "FATAL" not in output and "BACKOFF" not in output, output[-3000:]
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
    assert process.returncode == 0
    output = (tmp_path / "supervisord.out").read_text(errors="replace")
    # A clean stop: every program exits 0, and the log has no colour codes or per-start plugin noise.
    assert all(f"stopped: {program} (exit status 0)" in output for program in ("api", "worker", "ui", "poller")), (
        output[-3000:]
    )
    assert "\x1b[" not in output and "alembic.runtime.plugins" not in output


def test_serve_relays_every_program_and_stops_cleanly(tmp_path: Path) -> None:
    shutil.copy(ROOT / "supervisord.conf", tmp_path / "supervisord.conf")
    (tmp_path / "data").mkdir()
    api_port = free_port()
    env = engine_env(
        {
            "LEAD_ENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'leads.db'}",
            "LEAD_ENGINE_API_PORT": str(api_port),
            "LEAD_ENGINE_UI_PORT": str(free_port()),
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        }
    )
    # As the image runs it: the container's stdout is a pipe the programs' output must reach.
    process = subprocess.Popen(
        [sys.executable, "-m", "lead_engine", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{api_port}/api/health", timeout=60, process=process)
        token = next(
            line.split("=", 1)[1]
            for line in (tmp_path / ".env").read_text().splitlines()
            if line.startswith("LEAD_ENGINE_API_TOKEN=")
        )
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"http://127.0.0.1:{api_port}/api/leads", headers=headers).status_code == 200
        # Stopped only once the worker works (a program stopped while it still starts may not exit cleanly).
        created = httpx.post(
            f"http://127.0.0.1:{api_port}/api/ingest", json={"subject": "Anfrage", "raw_body": "Firma: Muster GmbH"},
            headers=headers,
        )  # fmt: skip
        lead_url = f"http://127.0.0.1:{api_port}/api/leads/{created.json()['lead_id']}"
        deadline = time.monotonic() + 60
        while httpx.get(lead_url, headers=headers).json()["status"] == "received":
            assert time.monotonic() < deadline, "the worker did not process the lead"
            time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-3000:]
    assert "success: api entered RUNNING state" in text and "lead_engine" in text  # supervisord's and the API's lines
    assert all(f"stopped: {program} (exit status 0)" in text for program in ("api", "worker", "ui", "poller")), text[
        -3000:
    ]
