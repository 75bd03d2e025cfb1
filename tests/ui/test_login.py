"""Signing in: the shared password, named operators with hashed passwords, and wrong credentials."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from lead_engine.core.alerts import list_active_alerts
from lead_engine.core.leads import list_events
from lead_engine.core.login_throttle import login_throttle
from lead_engine.core.operators import hash_password
from lead_engine.core.settings import get_settings
from tests.ui.conftest import PASSWORD, LeadFactory, click, field, open_lead, sign_in


def test_wrong_password_is_refused_and_shows_no_page(app: AppTest) -> None:
    sign_in(app, password="not it")
    assert [error.value for error in app.error] == ["Wrong name or password."]
    assert "Inbox" not in [title.value for title in app.title]


def test_right_password_opens_the_inbox(app: AppTest) -> None:
    sign_in(app, password=PASSWORD)
    assert not app.exception
    assert [title.value for title in app.title] == ["Inbox"]
    assert "Signed in as operator" in [caption.value for caption in app.sidebar.caption]


def test_named_operator_signs_in_and_is_recorded_as_actor(
    app: AppTest, monkeypatch: pytest.MonkeyPatch, make_lead: LeadFactory, engine: Engine
) -> None:
    monkeypatch.setenv("LEAD_ENGINE_UI_USERS", f"anna:{hash_password('annas secret', iterations=1000)}")
    get_settings.cache_clear()
    lead_id = make_lead(company="Alt GmbH")
    sign_in(app, name="anna", password="annas secret")
    assert "Signed in as anna" in [caption.value for caption in app.sidebar.caption]
    open_lead(app, lead_id)
    field(app, "company").set_value("Neu GmbH")
    click(app, "Save corrections")
    with Session(engine) as session:
        events = list_events(session=session, lead_id=lead_id)
    assert [(event.action, event.actor) for event in events][-1] == ("corrected", "anna")


def test_named_operator_with_wrong_password_is_refused(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ENGINE_UI_USERS", f"anna:{hash_password('annas secret', iterations=1000)}")
    get_settings.cache_clear()
    sign_in(app, name="anna", password=PASSWORD)
    assert [error.value for error in app.error] == ["Wrong name or password."]


def test_without_any_password_configured_nobody_gets_in(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEAD_ENGINE_UI_PASSWORD")
    get_settings.cache_clear()
    app.run()
    assert "operator add" in app.error[0].value
    assert not app.button


def test_repeated_wrong_passwords_make_the_login_wait_then_lock_with_an_alert(
    app: AppTest, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(login_throttle(), "clock", lambda: now[0])
    for _ in range(3):
        sign_in(app, password="guess")
        assert [error.value for error in app.error] == ["Wrong name or password."]
    sign_in(app, password=PASSWORD)  # even the right password waits its turn
    assert [error.value for error in app.error] == ["Too many failed sign-ins. Try again in 1 second."]
    assert "Inbox" not in [title.value for title in app.title]
    for _ in range(7):
        now[0] += 61
        sign_in(app, password="guess")
    sign_in(app, password=PASSWORD)
    assert [error.value for error in app.error] == ["Too many failed sign-ins. Try again in 15 minutes."]
    with Session(engine) as session:
        alerts = list_active_alerts(session=session, prefix="login_locked:")
    # AppTest has no client address: the name alone is locked here (a browser's address is locked beside it)
    assert [alert.message for alert in alerts] == [
        "UI sign-in locked for 15 minutes after 10 failed attempts with the shared password"
    ]
    now[0] += 15 * 60
    sign_in(app, password=PASSWORD)
    assert [title.value for title in app.title] == ["Inbox"]
