"""Alerts the operator must see show on every page until their cause is gone."""

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from lead_engine.core.alerts import clear_alert, raise_alert


def test_an_active_alert_is_shown_on_every_page_until_cleared(signed_in: AppTest, engine: Engine) -> None:
    raise_alert(engine, "quiet:tradingtwins", "No lead from source 'tradingtwins' for 6.0 business hours.")
    for page in ("ui_pages/inbox.py", "ui_pages/dashboard.py"):
        signed_in.switch_page(page).run()
        assert not signed_in.exception
        assert any("No lead from source 'tradingtwins'" in warning.value for warning in signed_in.warning), page
    clear_alert(engine, "quiet:tradingtwins")
    signed_in.switch_page("ui_pages/inbox.py").run()
    assert not any("tradingtwins" in warning.value for warning in signed_in.warning)
