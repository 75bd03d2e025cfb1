"""The operator app at a desk (1440 px) and on a phone (390 px), with real leads parsed from fixture mails.

These walks also take the pictures in docs/screenshots (written there only with
``LEAD_ENGINE_REFRESH_SCREENSHOTS=1``; a plain run keeps them in a temporary folder).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright import sync_api as playwright_api
from sqlalchemy import Engine

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.settings import Settings
from tests.support.servers import ROOT, wait_for_http
from tests.test_ui_browser import TIMEOUT_MS, TOKEN, heading, screenshot, settle
from tests.test_ui_browser import ui as ui  # the UI process, as the other browser tests start it
from tests.test_ui_walk import browser as browser  # one Chromium for the module's tests
from tests.test_ui_walk import grid_rows, open_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIXTURES = ROOT / "tests" / "fixtures" / "emails"
# Mails of many families, as a team's Monday morning brings them.
MAILS = [
    "tt_html_table_austria", "cf7_en_uk_london", "hubspot_de_forwarded_outlook_png", "linkedin_en",
    "gravity_x_de_address_checkbox", "jotform_en_uk_table", "free_de_pipe_signature", "calcom_de_plain",
    "wlw_z_de_at_linz_prefix_title", "europages_de_html", "typeform_de", "meta_zapier_de_missing_phone",
]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1440, "height": 1000}


def seed(api_url: str, engine: Engine, settings: Settings) -> list[str]:
    """Post the fixture mails as n8n does (raw MIME) and let the worker's jobs parse and score them."""
    wait_for_http(f"{api_url}/api/health", timeout=30)
    ids = []
    for name in MAILS:
        path = next(iter(sorted(FIXTURES.glob(f"{name}*.eml"))), None)
        assert path is not None, name
        response = httpx.post(
            f"{api_url}/api/ingest",
            content=path.read_bytes(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "message/rfc822"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        ids.append(str(response.json()["lead_id"]))
    run_due_jobs(engine, settings)
    return ids


def first_row_top(page: playwright_api.Page) -> float:
    """Where the Inbox table's first row starts, in pixels from the top of the page."""
    grid_rows(page)
    box = page.get_by_test_id("stDataFrameResizable").first.bounding_box()
    assert box is not None
    return float(box["y"]) + 35  # below the header row


def test_on_a_phone_the_first_lead_shows_without_scrolling_and_every_page_reads(
    ui: tuple[str, str], browser: playwright_api.Browser, engine: Engine, settings: Settings
) -> None:
    ui_url, api_url = ui
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        open_signed_in(page, ui_url)  # the first session starts the embedded API
        ids = seed(api_url, engine, settings)
        page.goto(ui_url)
        page.get_by_text(f"Leads 1–{len(ids)} of {len(ids)}").wait_for(timeout=TIMEOUT_MS)
        settle(page)
        top = first_row_top(page)
        assert top + 35 <= PHONE["height"], f"the first lead starts {top:.0f} px down on a {PHONE['height']} px screen"
        screenshot(page, "inbox-390")
        walk_pages(page, ui_url, ids[0], "390")
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()


def test_at_a_desk_the_pages_show_a_team_s_leads_with_their_sources_highlighted(
    ui: tuple[str, str], browser: playwright_api.Browser, engine: Engine, settings: Settings
) -> None:
    ui_url, api_url = ui
    page = browser.new_page(viewport=DESK)
    try:
        open_signed_in(page, ui_url)
        ids = seed(api_url, engine, settings)
        page.goto(ui_url)
        page.get_by_text(f"Leads 1–{len(ids)} of {len(ids)}").wait_for(timeout=TIMEOUT_MS)
        settle(page)
        screenshot(page, "inbox-1440")
        walk_pages(page, ui_url, ids[0], "1440")
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()


def walk_pages(page: playwright_api.Page, ui_url: str, lead_id: str, width: str) -> None:
    """The lead page with its highlighted e-mail, then Review and Settings, each pictured."""
    page.goto(f"{ui_url}/lead?id={lead_id}")
    heading(page, "Original e-mail")
    company = page.locator("[data-testid='lead-email-text'] mark[data-field='company']").first
    company.wait_for(timeout=TIMEOUT_MS)
    assert company.get_attribute("title") == "Company"  # the sanitiser kept what names the field
    found = (company.text_content() or "").strip()
    assert found
    playwright_api.expect(page.get_by_label("Company", exact=True)).to_have_value(
        re.compile(re.escape(found), re.IGNORECASE), timeout=TIMEOUT_MS
    )
    screenshot(page, f"lead-{width}")
    for name in ("Review", "Settings"):
        page.goto(f"{ui_url}/{name.lower()}")
        heading(page, name)
        settle(page)
        screenshot(page, f"{name.lower()}-{width}")
