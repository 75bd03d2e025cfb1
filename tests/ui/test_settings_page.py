"""The settings page: configuration with secrets masked, and connection tests against real servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from streamlit.testing.v1 import AppTest

from lead_engine.core.qualification.rules import DEFAULT_RULES_FILE
from lead_engine.core.settings import get_settings
from tests.support.servers import free_port, serve_app
from tests.ui.conftest import PASSWORD, click


@pytest.fixture
def explorer_url() -> Iterator[str]:
    """A Company Explorer stand-in that answers company searches with the right token only."""
    app = FastAPI()

    @app.get("/api/companies")
    def companies(request: Request) -> dict[str, list[object]]:
        if request.headers.get("authorization") != "Bearer ce-secret-token":
            from fastapi import HTTPException

            raise HTTPException(401)
        return {"items": []}

    with serve_app(app) as url:
        yield url


def test_settings_page_masks_secrets(signed_in: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ENGINE_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/secretpath")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    get_settings.cache_clear()
    signed_in.switch_page("ui_pages/configuration.py").run()
    assert not signed_in.exception
    table = signed_in.dataframe[0].value
    shown = " ".join(table["Value"].astype(str))
    for secret in (PASSWORD, "api-token-that-must-not-show", "secretpath", "sk-very-secret"):
        assert secret not in shown
    values = dict(zip(table["Setting"], table["Value"], strict=True))
    assert values["LEAD_ENGINE_API_TOKEN"] == values["OPENAI_API_KEY"] == "•••••• (set)"
    assert values["LEAD_ENGINE_WEBHOOK_SECRET"] == "not set"
    assert values["LEAD_ENGINE_EMBEDDED_API"] == "False"


def test_company_explorer_connection_test(
    signed_in: AppTest, monkeypatch: pytest.MonkeyPatch, explorer_url: str
) -> None:
    monkeypatch.setenv("LEAD_ENGINE_COMPANY_EXPLORER_URL", explorer_url)
    monkeypatch.setenv("LEAD_ENGINE_COMPANY_EXPLORER_TOKEN", "ce-secret-token")
    get_settings.cache_clear()
    signed_in.switch_page("ui_pages/configuration.py").run()
    signed_in.button(key="check_Company Explorer").click().run()
    assert "reachable" in signed_in.success[0].value
    monkeypatch.setenv("LEAD_ENGINE_COMPANY_EXPLORER_TOKEN", "wrong")
    get_settings.cache_clear()
    signed_in.button(key="check_Company Explorer").click().run()
    assert "token was refused" in signed_in.error[0].value


def test_slack_connection_test_reports_a_closed_port(signed_in: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ENGINE_SLACK_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    get_settings.cache_clear()
    signed_in.switch_page("ui_pages/configuration.py").run()
    click(signed_in, "Test connection")  # the first card: Company Explorer, not configured
    assert "not configured" in signed_in.error[0].value
    signed_in.button(key="check_Slack").click().run()
    assert any("cannot connect" in error.value for error in signed_in.error)


def test_settings_page_shows_the_rules_in_force_and_a_broken_edit(
    signed_in: AppTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace("hot = 70", "hot = 75"), encoding="utf-8")
    monkeypatch.setenv("LEAD_ENGINE_RULES_FILE", str(rules))
    get_settings.cache_clear()
    signed_in.switch_page("ui_pages/configuration.py").run()
    assert any("hot = 75" in block.value for block in signed_in.code)
    assert any(caption.value.startswith("From ") for caption in signed_in.caption)

    rules.write_text("[thresholds\n", encoding="utf-8")
    os.utime(rules, ns=(1, 10**18))
    signed_in.run()
    assert "the last good rules stay in force" in signed_in.error[0].value
    assert "not valid TOML" in signed_in.error[0].value
