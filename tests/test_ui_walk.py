"""The operator app walked through in headless Chromium as a sales team uses it on a Monday morning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright import sync_api as playwright_api
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.leads import get_lead
from lead_engine.core.settings import Settings
from lead_engine.ui_pages.inbox import WIDTHS
from tests.support.servers import wait_for_http
from tests.test_ui_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    heading,
    ingest,
    screenshot,
    session_cookie,
    set_company,
    settle,
    sign_in,
)
from tests.test_ui_browser import ui as ui  # the UI process, as the other browser tests start it
from tests.ui.conftest import LeadFactory
from tests.ui.conftest import make_lead as make_lead  # leads stored as ingest and the parser leave them

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser() -> Iterator[playwright_api.Browser]:
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_signed_in(page: playwright_api.Page, ui_url: str) -> None:
    """Sign in on the Inbox and wait for the session cookie, so later page loads stay signed in."""
    page.goto(ui_url)
    sign_in(page)
    heading(page, "Inbox")
    session_cookie(page)


def login_form(page: playwright_api.Page) -> playwright_api.Locator:
    return page.get_by_role("button", name="Sign in")


def test_a_reload_or_a_link_in_a_new_tab_keeps_the_operator_signed_in(
    ui: tuple[str, str], browser: playwright_api.Browser, engine: Engine, settings: Settings
) -> None:
    ui_url, api_url = ui
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        page.goto(ui_url)
        sign_in(page)
        heading(page, "Inbox")
        wait_for_http(f"{api_url}/api/health", timeout=30)
        lead_id = ingest(api_url, "Anfrage", "Firma: Reload GmbH\nAnsprechpartner: Rita Reload")
        set_company(engine, lead_id, "Reload GmbH")

        cookie = session_cookie(page)
        page.reload()
        heading(page, "Inbox")
        assert login_form(page).count() == 0

        tab = context.new_page()
        tab.goto(f"{ui_url}/lead?id={lead_id}")
        heading(tab, "Reload GmbH")
        assert login_form(tab).count() == 0
        assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0

        tab.get_by_role("button", name="Sign out").click()
        login_form(tab).wait_for(timeout=TIMEOUT_MS)
        page.reload()
        login_form(page).wait_for(timeout=TIMEOUT_MS)

        # The old token no longer signs anyone in, even if a browser kept it.
        other = browser.new_context()
        other.add_cookies([{**cookie, "expires": -1}])
        stale = other.new_page()
        stale.goto(f"{ui_url}/lead?id={lead_id}")
        login_form(stale).wait_for(timeout=TIMEOUT_MS)
        other.close()
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        context.close()


MARKUP_COMPANY = "Böse [klick](http://evil.example/x) :red[rot] :smile: **fett** <b>b</b> www.evil.example GmbH"


def visible_text(locator: playwright_api.Locator) -> str:
    """Text as a person reads it (word joiners that keep addresses from turning into links are invisible)."""
    return (locator.text_content() or "").replace("\u2060", "").strip()


def test_lead_values_with_markdown_links_and_streamlit_syntax_are_shown_as_typed(
    ui: tuple[str, str], browser: playwright_api.Browser, engine: Engine
) -> None:
    ui_url, api_url = ui
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        open_signed_in(page, ui_url)
        wait_for_http(f"{api_url}/api/health", timeout=30)
        lead_id = ingest(api_url, "Anfrage", "Firma: evil\nE-Mail: evil@evil.example")
        set_company(engine, lead_id, MARKUP_COMPANY)
        page.goto(f"{ui_url}/lead?id={lead_id}")
        title = page.locator("h1").filter(has_text="Böse").first
        title.wait_for(timeout=TIMEOUT_MS)
        assert visible_text(title) == MARKUP_COMPANY
        main = page.locator("[data-testid='stMain']")
        assert main.locator("a[href*='evil.example']").count() == 0
        assert "😄" not in (main.text_content() or "")
        assert main.locator("b, strong").filter(has_text="fett").count() == 0
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()


def test_an_html_only_mail_reads_as_text_in_the_text_tab(ui: tuple[str, str], browser: playwright_api.Browser) -> None:
    ui_url, api_url = ui
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        open_signed_in(page, ui_url)
        wait_for_http(f"{api_url}/api/health", timeout=30)
        html = "<html><body><table><tr><td>Firma</td><td>Tabellen GmbH</td></tr></table><p>Gruß</p></body></html>"
        for text in ("", html):  # no plain part, or (as some senders do) the HTML again as the "plain" part
            lead_id = ingest(api_url, f"Anfrage {len(text)}", text, html=html)
            page.goto(f"{ui_url}/lead?id={lead_id}")
            heading(page, "Original e-mail")
            shown = page.get_by_test_id("lead-email-text").first  # the Text tab
            playwright_api.expect(shown).to_contain_text("Tabellen GmbH", timeout=TIMEOUT_MS)
            assert "<td>" not in (shown.text_content() or "")
            page.get_by_role("tab", name="HTML source").click()
            page.get_by_text("<td>Tabellen GmbH</td>").first.wait_for(timeout=TIMEOUT_MS)
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()


def grid_rows(page: playwright_api.Page) -> list[str]:
    """The texts of the table's rows, read from the grid's accessible copy."""
    grid = page.locator("table[role=grid]").first
    grid.wait_for(state="attached", timeout=TIMEOUT_MS)
    return [text or "" for text in grid.locator("tbody tr").all_text_contents()]


TICK_COLUMN, ROW_HEIGHT = 36, 35


def table_box(page: playwright_api.Page) -> dict[str, float]:
    """Where the table is on screen, its top scrolled into view (the table is as tall as its page of leads)."""
    table = page.get_by_test_id("stDataFrameResizable").first
    table.evaluate("element => element.scrollIntoView({block: 'start'})")
    box = table.bounding_box()
    assert box is not None
    return dict(box)


def click_header(page: playwright_api.Page, title: str) -> None:
    """Click a column's title on the table's canvas (its columns have the inbox's fixed widths)."""
    box, names = table_box(page), list(WIDTHS)
    left = box["x"] + TICK_COLUMN + sum(WIDTHS[name] for name in names[: names.index(title)])
    page.mouse.click(left + WIDTHS[title] / 2, box["y"] + ROW_HEIGHT / 2)
    settle(page)


def tick_row(page: playwright_api.Page, row: int) -> None:
    box = table_box(page)
    page.mouse.click(box["x"] + TICK_COLUMN / 2, box["y"] + ROW_HEIGHT * (row + 1.5))
    settle(page)


def test_sorting_spans_every_page_and_ticked_rows_take_bulk_actions(
    ui: tuple[str, str], browser: playwright_api.Browser, make_lead: LeadFactory, engine: Engine
) -> None:
    ui_url, _ = ui
    ids = [make_lead(company=f"Firma {i:02d}", status="needs_review", score=100 - i) for i in range(61)]
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    try:
        open_signed_in(page, ui_url)
        page.get_by_text("Leads 1–50 of 61").wait_for(timeout=TIMEOUT_MS)
        assert "Firma 60" in grid_rows(page)[0]  # newest first
        # The table fits the screen: no column is cut off or needs scrolling sideways.
        assert table_box(page)["width"] >= TICK_COLUMN + sum(WIDTHS.values())

        click_header(page, "Score")
        page.get_by_text("Score ↓").first.wait_for(state="attached", timeout=TIMEOUT_MS)
        assert "Firma 00" in grid_rows(page)[0]  # the oldest lead, from what was page 2
        click_header(page, "Score")
        page.get_by_text("Score ↑").first.wait_for(state="attached", timeout=TIMEOUT_MS)
        assert "Firma 60" in grid_rows(page)[0]
        click_header(page, "Company")
        page.get_by_text("Company ↓").first.wait_for(state="attached", timeout=TIMEOUT_MS)
        assert "Firma 60" in grid_rows(page)[0]

        # Per page is labelled, and another size starts again at the first page.
        page.get_by_role("button", name="Next").click()
        page.get_by_text("page 2 of 2").wait_for(timeout=TIMEOUT_MS)
        page.get_by_label("Per page").click()
        page.get_by_role("option", name="25", exact=True).click()
        page.get_by_text("Leads 1–25 of 61 · page 1 of 3").wait_for(timeout=TIMEOUT_MS)

        with page.expect_download() as download:
            page.get_by_role("button", name="Export CSV").click()
        exported = download.value.path().read_text(encoding="utf-8").splitlines()
        assert len(exported) == 62 and exported[1].split(",")[4] == "Firma 60"  # all 61, sorted as shown

        tick_row(page, 0)
        tick_row(page, 1)
        page.get_by_text("2 selected").wait_for(timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Reject").click()
        page.get_by_label("Reason").fill("duplicate of an older enquiry")
        page.get_by_role("button", name="Reject 2 leads").click()
        page.get_by_text("Rejected: 2 leads.").wait_for(timeout=TIMEOUT_MS)

        with context.expect_page() as opened:  # the link cells open the lead in a new tab
            box = table_box(page)
            link = (box["x"] + TICK_COLUMN + 14, box["y"] + ROW_HEIGHT * 1.5)
            page.mouse.move(*link)  # the grid marks a link under the pointer, then a click opens it
            page.mouse.click(*link)
        tab = opened.value
        heading(tab, "Firma 60")
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        context.close()
    with Session(engine) as session:
        rejected = [get_lead(session=session, lead_id=lead_id) for lead_id in ids[-2:]]
    assert [lead.status for lead in rejected] == ["rejected", "rejected"]


def test_a_refused_save_keeps_every_edit_and_says_why_beside_each_field(
    ui: tuple[str, str], browser: playwright_api.Browser, make_lead: LeadFactory, engine: Engine, settings: Settings
) -> None:
    ui_url, _ = ui
    lead_id = make_lead(company="Edit GmbH", status="needs_review")
    page = browser.new_page(viewport={"width": 1440, "height": 1600})
    try:
        open_signed_in(page, ui_url)
        page.goto(f"{ui_url}/lead?id={lead_id}")
        heading(page, "Edit GmbH")
        page.get_by_label("Company", exact=True).fill("Edit Neu GmbH")
        page.get_by_label("Phone", exact=True).fill("call me maybe")
        page.get_by_label("E-mail", exact=True).fill("not-an-address@")
        page.get_by_role("button", name="Save corrections").click()
        page.get_by_text("Nothing was saved: E-mail, Phone need a fix.").wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("is not a valid phone number").wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("is not a valid e-mail address").wait_for(timeout=TIMEOUT_MS)
        for label, typed in (("Company", "Edit Neu GmbH"), ("Phone", "call me maybe"), ("E-mail", "not-an-address@")):
            playwright_api.expect(page.get_by_label(label, exact=True)).to_have_value(typed, timeout=TIMEOUT_MS)

        # Someone else saves meanwhile: the edits stay, laid over their version, and save on the next click.
        set_company(engine, lead_id, "Edit Anders GmbH")
        page.get_by_label("Phone", exact=True).fill("+49 30 1234567")
        page.get_by_label("E-mail", exact=True).fill("info@edit.example")
        page.get_by_role("button", name="Save corrections").click()
        page.get_by_text("Someone else changed this lead while you were editing").wait_for(timeout=TIMEOUT_MS)
        playwright_api.expect(page.get_by_label("Phone", exact=True)).to_have_value("+49 30 1234567")
        playwright_api.expect(page.get_by_label("Company", exact=True)).to_have_value("Edit Neu GmbH")
        page.get_by_role("button", name="Save corrections").click()
        page.get_by_text("Saved Company, E-mail, Phone.").wait_for(timeout=TIMEOUT_MS)
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()
    with Session(engine) as session:
        lead = get_lead(session=session, lead_id=lead_id)
    assert (lead.company, lead.phone, lead.email) == ("Edit Neu GmbH", "+49301234567", "info@edit.example")


def test_connection_test_results_stay_side_by_side(ui: tuple[str, str], browser: playwright_api.Browser) -> None:
    ui_url, _ = ui
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        open_signed_in(page, ui_url)
        page.goto(f"{ui_url}/settings")
        heading(page, "Test connections")
        buttons = page.get_by_role("button", name="Test connection")
        buttons.nth(0).click()
        page.get_by_text("(tested ", exact=False).first.wait_for(timeout=TIMEOUT_MS)
        buttons.nth(3).click()
        playwright_api.expect(page.get_by_text("(tested ", exact=False)).to_have_count(2, timeout=TIMEOUT_MS)
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()


def test_rejecting_a_synced_lead_names_its_record_closes_the_popover_and_restore_brings_it_back(
    ui: tuple[str, str], browser: playwright_api.Browser, make_lead: LeadFactory, engine: Engine
) -> None:
    ui_url, _ = ui
    lead_id = make_lead(company="Schon Drin AG", status="synced", company_explorer_id="ce-4711")
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        open_signed_in(page, ui_url)
        page.goto(f"{ui_url}/lead?id={lead_id}")
        heading(page, "Schon Drin AG")
        page.get_by_role("button", name="Reject").click()
        warning = page.get_by_text("already in the Company Explorer")
        warning.wait_for(timeout=TIMEOUT_MS)
        assert "ce-4711" in visible_text(warning)
        page.get_by_label("Reason").fill("duplicate")
        page.get_by_role("button", name="Reject lead").click()
        page.get_by_text("Rejected.").first.wait_for(timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Reject lead").wait_for(state="hidden", timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Restore").click()
        page.get_by_text("Restored: the lead is back in review.").wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("Needs review", exact=True).first.wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("Restored to review.").first.wait_for(state="attached", timeout=TIMEOUT_MS)
        assert "Rejected: duplicate." in visible_text(page.locator("table[role=grid]").last)  # the timeline
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()
    with Session(engine) as session:
        assert get_lead(session=session, lead_id=lead_id).status == "needs_review"


def test_review_names_leads_without_a_company_and_refuses_to_approve_one_it_cannot_sync(
    ui: tuple[str, str], browser: playwright_api.Browser, make_lead: LeadFactory, engine: Engine
) -> None:
    ui_url, _ = ui
    lead_id = make_lead(company="", status="needs_review", contact_name="Nina Neu", email="nina@gmail.com")
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        open_signed_in(page, ui_url)
        page.get_by_role("link", name="Review").click()
        heading(page, "Review")
        page.get_by_text("Couldn't sync (0)").wait_for(timeout=TIMEOUT_MS)
        assert "Nina Neu · Neue Anfrage 0" in grid_rows(page)[0]
        page.get_by_text("All 1 shown").click()
        page.get_by_role("button", name="Approve").click()
        page.get_by_text("cannot approve").first.wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("Needs review (1)").wait_for(timeout=TIMEOUT_MS)
        assert "Dead letters" not in (page.locator("body").text_content() or "")
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()
    with Session(engine) as session:
        assert get_lead(session=session, lead_id=lead_id).status == "needs_review"


def test_search_finds_every_spelling_of_a_name(
    ui: tuple[str, str], browser: playwright_api.Browser, make_lead: LeadFactory
) -> None:
    ui_url, _ = ui
    for company in ("Müller Metallbau GmbH", "Mueller Logistik AG", "Muller Conseil SA", "Schmidt Bau GmbH"):
        make_lead(company=company, status="needs_review")
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        open_signed_in(page, ui_url)
        page.get_by_text("Leads 1–4 of 4").wait_for(timeout=TIMEOUT_MS)
        for typed in ("muller", "Müller", "MUELLER"):
            search = page.get_by_role("textbox", name="Search")
            search.fill(typed)
            search.press("Enter")
            page.get_by_text("Leads 1–3 of 3").wait_for(timeout=TIMEOUT_MS)
            grid = page.locator("table[role=grid]").first
            playwright_api.expect(grid).not_to_contain_text("Schmidt", timeout=TIMEOUT_MS)
            playwright_api.expect(grid).to_contain_text("Muller Conseil SA", timeout=TIMEOUT_MS)
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()


def test_a_lead_opened_from_the_inbox_walks_its_list_and_is_approved_and_rejected_by_keyboard(
    ui: tuple[str, str], browser: playwright_api.Browser, make_lead: LeadFactory, engine: Engine
) -> None:
    ui_url, _ = ui
    ids = [make_lead(company=name, status="needs_review") for name in ("Alpha GmbH", "Beta GmbH", "Gamma GmbH")]
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        open_signed_in(page, ui_url)
        page.get_by_text("Leads 1–3 of 3").wait_for(timeout=TIMEOUT_MS)
        with context.expect_page() as opened:  # the Open link of the first row, in a new tab
            box = table_box(page)
            link = (box["x"] + TICK_COLUMN + 14, box["y"] + ROW_HEIGHT * 1.5)
            page.mouse.move(*link)
            page.mouse.click(*link)
        tab = opened.value
        heading(tab, "Gamma GmbH")  # newest first
        tab.get_by_text("Lead 1 of 3 in the list").wait_for(timeout=TIMEOUT_MS)
        tab.keyboard.press("Alt+N")
        heading(tab, "Beta GmbH")
        tab.get_by_text("Lead 2 of 3 in the list").wait_for(timeout=TIMEOUT_MS)
        tab.keyboard.press("Alt+A")
        tab.get_by_text("Ready", exact=True).first.wait_for(timeout=TIMEOUT_MS)  # the status badge
        tab.keyboard.press("Alt+P")
        heading(tab, "Gamma GmbH")
        settle(tab)
        tab.keyboard.press("Alt+X")  # the reject popover opens from the keyboard
        reason = tab.get_by_role("textbox", name="Reason")
        reason.fill("Doppelt")
        tab.get_by_role("button", name="Reject lead").click()
        tab.get_by_text("Rejected", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        context.close()
    with Session(engine) as session:
        assert [get_lead(session=session, lead_id=lead_id).status for lead_id in ids] == [
            "needs_review", "ready", "rejected",
        ]  # fmt: skip
