"""The inbox: counts, filters, search, paging and opening a lead."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import LeadFactory, click


def companies(at: AppTest) -> list[str]:
    """The companies listed in the inbox table, in order."""
    return list(at.dataframe[0].value["Company"])


def test_inbox_lists_leads_newest_first_with_counts(signed_in: AppTest, make_lead: LeadFactory) -> None:
    make_lead(company="Erste GmbH", status="needs_review")
    make_lead(company="Zweite AG", status="synced")
    signed_in.run()
    assert not signed_in.exception
    assert companies(signed_in) == ["Zweite AG", "Erste GmbH"]
    counts = next(element.value for element in signed_in.markdown if element.value.startswith("**"))
    assert counts.startswith("**2 leads** :orange-badge[Needs review 1] :blue-badge[Ready 0] :green-badge[Synced 1]")


def test_inbox_filters_by_status_source_search_and_score(signed_in: AppTest, make_lead: LeadFactory) -> None:
    make_lead(company="Alpha GmbH", status="needs_review", source="tradingtwins", score=20)
    make_lead(company="Beta AG", status="ready", source="contact-form", score=80)
    make_lead(company="Gamma KG", status="ready", source="tradingtwins", score=90, city="Köln")
    signed_in.run()

    signed_in.multiselect(key="inbox_status").set_value(["ready"]).run()
    assert sorted(companies(signed_in)) == ["Beta AG", "Gamma KG"]
    signed_in.selectbox(key="inbox_source").set_value("tradingtwins").run()
    assert companies(signed_in) == ["Gamma KG"]
    signed_in.multiselect(key="inbox_status").set_value([]).run()
    signed_in.number_input(key="inbox_score").set_value(50).run()
    assert companies(signed_in) == ["Gamma KG"]
    signed_in.selectbox(key="inbox_source").set_value("All sources").run()
    signed_in.number_input(key="inbox_score").set_value(0).run()
    signed_in.text_input(key="inbox_q").set_value("köln").run()
    assert companies(signed_in) == ["Gamma KG"]
    signed_in.text_input(key="inbox_q").set_value("nobody-like-this").run()
    assert "No lead matches these filters" in signed_in.info[0].value


def test_inbox_received_period_filter(signed_in: AppTest, make_lead: LeadFactory) -> None:
    from datetime import UTC, datetime, timedelta

    make_lead(company="Heute GmbH")
    make_lead(company="Alt GmbH", received_at=datetime.now(UTC) - timedelta(days=40))
    signed_in.run()
    signed_in.selectbox(key="inbox_period").set_value("Last 30 days").run()
    assert companies(signed_in) == ["Heute GmbH"]


def test_inbox_pages_through_leads(signed_in: AppTest, make_lead: LeadFactory) -> None:
    for number in range(30):
        make_lead(company=f"Firma {number:02d}")
    signed_in.run()
    signed_in.selectbox(key="inbox_size").set_value(25).run()
    assert len(companies(signed_in)) == 25
    click(signed_in, "Next")
    assert len(companies(signed_in)) == 5
    assert "Leads 26–30 of 30" in signed_in.caption[-1].value or any(
        "Leads 26–30 of 30" in caption.value for caption in signed_in.caption
    )


def test_empty_inbox_says_what_to_do(signed_in: AppTest) -> None:
    assert "No leads yet" in signed_in.info[0].value


def test_each_row_links_to_its_lead(signed_in: AppTest, make_lead: LeadFactory) -> None:
    lead_id = make_lead(company="Offen GmbH")
    signed_in.run()
    frame = signed_in.dataframe[0].value
    assert [link.split("&list=")[0] for link in frame["Open"]] == [f"/lead?id={lead_id}"]
    assert list(frame["Company"]) == ["Offen GmbH"]
