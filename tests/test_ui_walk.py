"""The operator app walked through in headless Chromium as a sales team uses it on a Monday morning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright import sync_api as playwright_api
from sqlalchemy import Engine

from lead_engine.core.settings import Settings
from tests.support.servers import wait_for_http
from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, heading, ingest, screenshot, set_company, sign_in
from tests.test_ui_browser import ui as ui  # the UI process, as the other browser tests start it

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser() -> Iterator[playwright_api.Browser]:
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def session_cookie(page: playwright_api.Page) -> dict:
    """The browser's session cookie, once the signed-in page has handed it over."""
    for _ in range(TIMEOUT_MS // 100):
        cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
        if "lead_engine_session" in cookies:
            return dict(cookies["lead_engine_session"])
        page.wait_for_timeout(100)
    raise AssertionError("the signed-in page never set its session cookie")


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
            shown = page.locator("[data-testid='stCode']").first
            playwright_api.expect(shown).to_contain_text("Tabellen GmbH", timeout=TIMEOUT_MS)
            assert "<td>" not in (shown.text_content() or "")
            page.get_by_role("tab", name="HTML source").click()
            page.get_by_text("<td>Tabellen GmbH</td>").first.wait_for(timeout=TIMEOUT_MS)
    except Exception:
        screenshot(page, "failure")
        raise
    finally:
        page.close()
