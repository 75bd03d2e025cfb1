"""The lead page follows its lead while the worker has it: the UI, a worker and a Company Explorer stand-in run as
their own processes, and the browser is never reloaded."""

from __future__ import annotations

import pytest
from playwright import sync_api as playwright_api
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.lead_fields import NO_CONTACT
from lead_engine.core.leads import get_lead
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import ExplorerState
from tests.test_import_browser import worker as worker  # the worker process, as supervisord runs it
from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, heading, screenshot, session_cookie, sign_in
from tests.test_ui_browser import ui as ui  # the UI process, as the other browser tests start it
from tests.ui.conftest import LeadFactory
from tests.ui.conftest import make_lead as make_lead  # leads stored as ingest and the parser leave them

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def settings(settings: Settings, explorer: tuple[ExplorerState, str]) -> Settings:
    """The test's settings with sync on, to the Company Explorer stand-in."""
    return settings.model_copy(update={"company_explorer_url": explorer[1]})


def status_badge(page: playwright_api.Page, label: str) -> playwright_api.Locator:
    return page.locator("[data-testid='stMain'] [data-testid='stMarkdownContainer']").get_by_text(label, exact=True)


def test_the_lead_page_follows_a_sync_and_drops_reasons_a_correction_answered(
    ui: tuple[str, str], worker: None, make_lead: LeadFactory, engine: Engine, explorer: tuple[ExplorerState, str]
) -> None:
    ui_url, _ = ui
    # The worker parses it: the mail gives no way to reach the lead, so it waits for review with that reason.
    lead_id = make_lead(company="Folge GmbH", text="Firma: Folge GmbH\nWebsite: https://folge.example\n")
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        try:
            page.goto(f"{ui_url}/lead?id={lead_id}")
            sign_in(page)
            session_cookie(page)
            heading(page, "Folge GmbH")
            reasons = page.get_by_text("Why it needs a look", exact=False)
            playwright_api.expect(reasons).to_contain_text(NO_CONTACT, timeout=TIMEOUT_MS)

            page.get_by_label("Phone", exact=True).fill("+49 30 1234567")
            page.get_by_role("button", name="Save corrections").click()
            page.get_by_text("Saved Phone.").wait_for(timeout=TIMEOUT_MS)
            playwright_api.expect(reasons).to_contain_text("below the qualifying score", timeout=TIMEOUT_MS)
            playwright_api.expect(reasons).not_to_contain_text(NO_CONTACT, timeout=TIMEOUT_MS)

            page.get_by_role("button", name="Approve").click()
            page.get_by_text("Approved; sync queued.").wait_for(timeout=TIMEOUT_MS)
            # No reload: the page notices the worker's sync by itself.
            status_badge(page, "Synced").wait_for(timeout=TIMEOUT_MS)
            page.get_by_text("Company Explorer record", exact=False).first.wait_for(timeout=TIMEOUT_MS)
            playwright_api.expect(page.get_by_text("Working on this lead now")).to_have_count(0, timeout=TIMEOUT_MS)
            screenshot(page, "lead_followed")
        except Exception:
            screenshot(page, "failure")
            raise
        finally:
            browser.close()
    with Session(engine) as session:
        assert get_lead(session=session, lead_id=lead_id).status == "synced"
    assert explorer[0].count("POST", "/companies") == 1


# Words for machines that a salesperson should never read on a page.
RAW_WORDS = ("dead", "contact_name", "Reparse", "version ", "None →", "/api/ingest", "answered 400:", '{"detail"')


def test_a_lead_the_company_explorer_refuses_reads_in_plain_words_on_every_page(
    ui: tuple[str, str], worker: None, make_lead: LeadFactory, explorer: tuple[ExplorerState, str]
) -> None:
    ui_url, _ = ui
    explorer[0].reject_company("Abgewiesen GmbH")
    lead_id = make_lead(
        company="Abgewiesen GmbH", text="Firma: Abgewiesen GmbH\nTelefon: 030 1234567\nE-Mail: a@abgewiesen.example\n"
    )
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        try:
            page.goto(f"{ui_url}/lead?id={lead_id}")
            sign_in(page)
            session_cookie(page)
            heading(page, "Abgewiesen GmbH")
            approve = page.get_by_role("button", name="Approve")
            if approve.is_enabled():  # the worker may have approved it on its own already
                approve.click()
            status_badge(page, "Couldn't sync").wait_for(timeout=TIMEOUT_MS)
            main = page.get_by_test_id("stMain")
            playwright_api.expect(main).to_contain_text("answered 400 Bad Request", timeout=TIMEOUT_MS)
            playwright_api.expect(main).to_contain_text("is not accepted", timeout=TIMEOUT_MS)
            text = main.text_content() or ""  # the tables' accessible copies too
            assert not [word for word in RAW_WORDS if word in text], text
            page.get_by_role("link", name="Review").click()
            heading(page, "Review")
            page.get_by_text("Couldn't sync (1)", exact=True).wait_for(timeout=TIMEOUT_MS)
            text = page.get_by_test_id("stMain").text_content() or ""
            assert not [word for word in RAW_WORDS if word in text], text
        except Exception:
            screenshot(page, "failure")
            raise
        finally:
            browser.close()
