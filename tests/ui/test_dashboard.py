"""The dashboard renders its figures from real leads and events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from lead_engine.core.leads import list_events, record_event
from tests.ui.conftest import LeadFactory


def test_dashboard_shows_rate_median_and_errors(signed_in: AppTest, make_lead: LeadFactory, engine: Engine) -> None:
    synced = make_lead(status="synced", source="tradingtwins")
    make_lead(status="dead", source="contact-form", last_error="HTTP 422: invalid domain")
    make_lead(status="needs_review")
    with Session(engine) as session:
        received_at = list_events(session=session, lead_id=synced)[0].at
        record_event(session=session, lead_id=synced, action="synced", company_explorer_id="ce-1")
        session.flush()
        list_events(session=session, lead_id=synced)[-1].at = received_at + timedelta(minutes=3)
        session.commit()
    signed_in.switch_page("ui_pages/dashboard.py").run()
    assert not signed_in.exception
    metrics = {metric.label: metric.value for metric in signed_in.metric}
    assert metrics["Leads in period"] == "3"
    assert metrics["Sync success rate"] == "50%"
    assert metrics["Median received → synced"] == "3.0 min"
    assert metrics["Couldn't sync"] == "1"
    assert (metrics["Waiting for review"], metrics["Overdue"]) == ("1", "0")
    assert metrics["Approved automatically today"] == "0 of 100"
    tables = {tuple(table.value.columns): table.value for table in signed_in.dataframe}
    assert list(tables["Error", "Leads"]["Error"]) == ["HTTP 422: invalid domain"]
    assert tables["Path", "Leads"].values.tolist() == [["API (n8n, forms)", 3]]
    assert not signed_in.warning
    assert len(signed_in.get("vega_lite_chart")) == 2


def test_empty_dashboard_renders(signed_in: AppTest) -> None:
    signed_in.switch_page("ui_pages/dashboard.py").run()
    assert not signed_in.exception
    assert "No leads in this period yet." in [info.value for info in signed_in.info]


def test_dashboard_counts_leads_recovered_from_the_mailbox(signed_in: AppTest, make_lead: LeadFactory) -> None:
    make_lead()
    make_lead(channel="reconciliation")
    make_lead(channel="reconciliation")
    signed_in.switch_page("ui_pages/dashboard.py").run()
    assert not signed_in.exception
    tables = {tuple(table.value.columns): table.value for table in signed_in.dataframe}
    assert tables["Path", "Leads"].values.tolist() == [["Recovered from the mailbox", 2], ["API (n8n, forms)", 1]]
    [warning] = signed_in.warning
    assert warning.value.startswith("2 lead(s) were found in the mailbox without having arrived through n8n")
