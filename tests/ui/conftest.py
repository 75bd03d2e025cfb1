"""The operator app under streamlit's AppTest, on the test database, configured through the environment."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch
from lead_engine.core.login_throttle import login_throttle
from lead_engine.core.models import Lead
from lead_engine.core.settings import Settings, get_settings

UI_FILE = Path(__file__).resolve().parents[2] / "lead_engine" / "ui.py"
PASSWORD = "correct horse battery"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def ui_env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The app's settings, given the way production gives them: environment variables."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEAD_ENGINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEAD_ENGINE_UI_PASSWORD", PASSWORD)
    monkeypatch.setenv("LEAD_ENGINE_API_TOKEN", "api-token-that-must-not-show")
    monkeypatch.setenv("LEAD_ENGINE_EMBEDDED_API", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _no_earlier_failed_logins() -> Iterator[None]:
    """Each test starts with the login throttle as after a restart."""
    login_throttle().clear()
    yield
    login_throttle().clear()


@pytest.fixture
def app(ui_env: None) -> AppTest:
    """The app, not yet run."""
    return AppTest.from_file(UI_FILE, default_timeout=60)


def sign_in(at: AppTest, password: str = PASSWORD, name: str = "") -> AppTest:
    """Run the app and submit the login form."""
    at.run()
    at.text_input[0].set_value(name)
    at.text_input[1].set_value(password)
    at.button[0].click()
    return at.run()


def open_lead(at: AppTest, lead_id: str) -> AppTest:
    """Go to a lead's page the way a link does: the lead page with ``?id=``."""
    at.switch_page("ui_pages/lead_detail.py")
    at.query_params["id"] = lead_id
    return at.run()


def field(at: AppTest, name: str) -> Any:
    """The input of one lead field on the lead page."""
    return next(widget for widget in [*at.text_input, *at.text_area] if str(widget.key).endswith(f"_{name}"))


def click(at: AppTest, label: str) -> AppTest:
    """Click the (first) button with this label and run the app."""
    next(button for button in at.button if button.label == label).click()
    return at.run()


@pytest.fixture
def signed_in(app: AppTest) -> AppTest:
    """The app with the shared operator signed in, on the inbox."""
    return sign_in(app)


LeadFactory = Callable[..., str]


@pytest.fixture
def make_lead(engine: Engine) -> LeadFactory:
    """Store a lead the way ingest does, then give it parsed values as the parser would."""
    counter = iter(range(1_000_000))

    def make(
        *,
        company: str = "Muster GmbH",
        status: str = "parsed",
        source: str = "tradingtwins",
        text: str | None = None,
        html: str = "",
        channel: str = "api",
        **values: Any,
    ) -> str:
        number = next(counter)
        payload = {
            "source": source,
            "subject": f"Neue Anfrage {number}",
            "raw_body": text if text is not None else f"Firma: {company}\nAnfrage Nummer {number}\n",
            "html_body": html,
            "sender": "noreply@tradingtwins.com",
        }
        item = prepare_ingest("application/json", json.dumps(payload).encode(), channel=channel)
        outcome = write_batch(engine, [item])[0]
        lead_id = outcome.lead_id  # type: ignore[union-attr]
        with Session(engine) as session, session.begin():
            lead = session.get(Lead, lead_id)
            assert lead is not None
            lead.company, lead.status = company, status
            lead.contact_name = values.pop("contact_name", "Max Muster")
            lead.score = values.pop("score", 60)
            for name, value in values.items():
                setattr(lead, name, value)
            lead.fields = {
                "company": {"provenance": "rule", "confidence": 0.9},
                "contact_name": {"provenance": "llm", "confidence": 0.7},
            }
        return lead_id

    return make
