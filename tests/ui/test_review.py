"""Review: the two queues with reasons, bulk approve and bulk resync."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from lead_engine.core.leads import get_lead
from lead_engine.core.settings import get_settings
from tests.ui.conftest import LeadFactory, click


def statuses(engine: Engine, *lead_ids: str) -> list[str]:
    with Session(engine) as session:
        return [get_lead(session=session, lead_id=lead_id).status for lead_id in lead_ids]


@pytest.fixture
def review(signed_in: AppTest) -> AppTest:
    """The review page, signed in."""
    signed_in.switch_page("ui_pages/review.py")
    return signed_in.run()


def test_review_lists_needs_review_with_reasons(review: AppTest, make_lead: LeadFactory) -> None:
    make_lead(company="Unklar GmbH", status="needs_review", reasons=["no company e-mail"])
    make_lead(company="Fertig AG", status="synced")
    review.run()
    table = review.dataframe[0].value
    assert list(table["Lead"]) == ["Unklar GmbH · Max Muster"]
    assert list(table["Reason"]) == ["no company e-mail"]


def test_bulk_approve_the_chosen_leads(review: AppTest, make_lead: LeadFactory, engine: Engine) -> None:
    first, second, third = (make_lead(company=name, status="needs_review") for name in ("A", "B", "C"))
    review.run()
    review.multiselect(key="review_chosen").set_value([first, third]).run()
    click(review, "Approve")
    assert statuses(engine, first, second, third) == ["ready", "needs_review", "ready"]
    assert [toast.value for toast in review.toast] == ["Approved\\: 2 leads\\."]


def test_bulk_resync_every_dead_letter(
    review: AppTest, make_lead: LeadFactory, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAD_ENGINE_COMPANY_EXPLORER_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    dead = [make_lead(company=name, status="dead", last_error="HTTP 503 from explorer") for name in ("D", "E")]
    review.segmented_control(key="review_queue").set_value("dead").run()
    assert set(review.dataframe[0].value["Reason"]) == {"HTTP 503 from explorer"}
    review.checkbox(key="review_all").check().run()
    click(review, "Sync again")
    assert statuses(engine, *dead) == ["ready", "ready"]
    assert "Every lead synced" in review.success[0].value


def test_empty_queues_say_so(review: AppTest) -> None:
    assert "Nothing needs review" in review.success[0].value


def test_rejected_queue_shows_junk_with_its_reason_and_restores_it(
    review: AppTest, make_lead: LeadFactory, engine: Engine
) -> None:
    junk = make_lead(
        company="Weber GmbH", status="rejected", reasons=["rejected as junk: bounce (a delivery status notification)"]
    )
    review.segmented_control(key="review_queue").set_value("rejected").run()
    assert list(review.dataframe[0].value["Reason"]) == ["rejected as junk: bounce (a delivery status notification)"]
    review.checkbox(key="review_all").check().run()
    click(review, "Restore")
    assert statuses(engine, junk) == ["needs_review"]
    assert [toast.value for toast in review.toast] == ["Restored to review\\: 1 lead\\."]


def test_overdue_leads_come_first_and_say_so(review: AppTest, make_lead: LeadFactory) -> None:
    from datetime import timedelta

    from lead_engine.core.models import utcnow

    make_lead(company="Neu AG", status="needs_review", review_due_at=utcnow() + timedelta(hours=20))
    make_lead(company="Alt AG", status="needs_review", review_due_at=utcnow() - timedelta(hours=1))
    review.run()
    table = review.dataframe[0].value
    assert list(table["Lead"]) == ["Alt AG · Max Muster", "Neu AG · Max Muster"]
    assert list(table["Status"]) == ["Overdue", "Needs review"]
