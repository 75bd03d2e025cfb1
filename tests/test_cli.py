"""The command line: first-run secrets, and one UI process that also serves the API."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lead_engine.cli import main
from lead_engine.core.env_file import ensure_env_file
from tests.conftest import API_TOKEN
from tests.support.servers import engine_process, free_port, wait_for_http


def test_init_env_generates_secrets_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LEAD_ENGINE_LOG_LEVEL=DEBUG")
    main(["init-env", "--path", str(env_file)])
    assert "generated LEAD_ENGINE_API_TOKEN, LEAD_ENGINE_UI_PASSWORD" in capsys.readouterr().out
    first = env_file.read_text()
    assert first.startswith("LEAD_ENGINE_LOG_LEVEL=DEBUG\nLEAD_ENGINE_API_TOKEN=")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert ensure_env_file(env_file) == []
    assert env_file.read_text() == first


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
