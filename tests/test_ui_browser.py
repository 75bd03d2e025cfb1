"""The operator app in headless Chromium: sign in, correct a lead, see it persisted; lead markup stays text."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright import sync_api as playwright_api
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.leads import correct_lead, get_lead
from lead_engine.core.settings import Settings
from tests.support.servers import ROOT, engine_env, free_port, stop_process, wait_for_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORD = "browser-test-password"
TOKEN = "browser-test-token"
XSS = "<img src=x onerror=alert(1)>"
# The pictures in docs/screenshots are refreshed only on request; a plain test run leaves the checkout as it was.
REFRESH_DOCS = os.environ.get("LEAD_ENGINE_REFRESH_SCREENSHOTS") == "1"
SCREENSHOTS = ROOT / "docs" / "screenshots" if REFRESH_DOCS else Path(tempfile.gettempdir()) / "lead-engine-screenshots"
TIMEOUT_MS = 60_000


@pytest.fixture
def ui(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``streamlit run lead_engine/ui.py`` alone, with the embedded API on; yields the UI and API URLs."""
    ui_port, api_port = free_port(), free_port()
    env = engine_env(
        {
            "LEAD_ENGINE_DATABASE_URL": settings.database_url,
            "LEAD_ENGINE_UI_PASSWORD": PASSWORD,
            "LEAD_ENGINE_API_TOKEN": TOKEN,
            "LEAD_ENGINE_EMBEDDED_API": "true",
            "LEAD_ENGINE_API_PORT": str(api_port),
            "LEAD_ENGINE_UI_REFRESH_SECONDS": "600",
            # Unset unless a test's settings name a Company Explorer stand-in: then the UI offers sync.
            "LEAD_ENGINE_COMPANY_EXPLORER_URL": settings.company_explorer_url or "",
        }
    )
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "lead_engine" / "ui.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(ui_port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",  # as `python -m lead_engine ui` serves it
    ]  # fmt: skip
    with (tmp_path / "ui.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{ui_port}/_stcore/health", timeout=60, process=process)
            yield f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}"
        finally:
            stop_process(process)


def ingest(api_url: str, subject: str, text: str, html: str = "") -> str:
    """Post an e-mail to the embedded API; returns the new lead's id."""
    body = {"source": "tradingtwins", "subject": subject, "raw_body": text, "html_body": html, "sender": "x@y.de"}
    response = httpx.post(f"{api_url}/api/ingest", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["lead_id"])


def set_company(engine: Engine, lead_id: str, company: str) -> None:
    """Give the lead a company as a person would."""
    with Session(engine) as session:
        version = get_lead(session=session, lead_id=lead_id).version
        correct_lead(
            session=session,
            settings=Settings(),
            lead_id=lead_id,
            version=version,
            changes={"company": company},
            actor="setup",
        )


def sign_in(page: playwright_api.Page) -> None:
    """Fill in the login form shown on any page of a new session."""
    page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
    settle(page)
    password = page.get_by_role("textbox", name="Password")
    password.fill(PASSWORD)
    password.press("Enter")


def session_cookie(page: playwright_api.Page) -> dict:
    """The browser's session cookie, once the signed-in page has handed it over."""
    for _ in range(TIMEOUT_MS // 100):
        cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
        if "lead_engine_session" in cookies:
            return dict(cookies["lead_engine_session"])
        page.wait_for_timeout(100)
    raise AssertionError("the signed-in page never set its session cookie")


def settle(page: playwright_api.Page) -> None:
    """Wait until the app has finished running its script for the last interaction."""
    page.locator("[data-test-script-state='notRunning']").first.wait_for(timeout=TIMEOUT_MS)


def heading(page: playwright_api.Page, text: str) -> playwright_api.Locator:
    """A page heading, waited for."""
    locator = page.get_by_role("heading", name=text, exact=True).first
    locator.wait_for(timeout=TIMEOUT_MS)
    return locator


def screenshot(page: playwright_api.Page, name: str) -> None:
    """Keep a picture of the page for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # let charts and fonts settle for the picture; nothing is asserted on time
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_operator_corrects_a_lead_in_the_browser(ui: tuple[str, str], engine: Engine) -> None:
    ui_url, _ = ui
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        try:
            page.goto(ui_url)
            page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
            screenshot(page, "login")
            sign_in(page)
            session_cookie(page)  # later page loads stay signed in
            heading(page, "Inbox")
            # The first session started the embedded API in the UI process.
            api_url = ui[1]
            wait_for_http(f"{api_url}/api/health", timeout=30)
            plain = ingest(api_url, "Anfrage Verpackung", "Firma: Mustr GmbH\nAnsprechpartner: Max Muster")
            markup = f"<p>{XSS}</p><script>alert(2)</script>"
            hostile = ingest(api_url, "Anfrage <b>HTML</b>", "Firma: evil", html=markup)
            set_company(engine, plain, "Mustr GmbH")
            set_company(engine, hostile, XSS)

            page.goto(ui_url)
            heading(page, "Inbox")
            page.get_by_text("Leads 1–2 of 2").wait_for(timeout=TIMEOUT_MS)

            page.goto(f"{ui_url}/lead?id={plain}")
            heading(page, "Mustr GmbH")
            company = page.get_by_label("Company", exact=True)
            company.fill("Muster GmbH")
            page.get_by_role("button", name="Save corrections").click()
            page.get_by_text("Saved Company.").wait_for(timeout=TIMEOUT_MS)
            heading(page, "Muster GmbH")

            page.reload()
            heading(page, "Muster GmbH")
            company = page.get_by_label("Company", exact=True)
            playwright_api.expect(company).to_have_value("Muster GmbH", timeout=TIMEOUT_MS)

            page.goto(f"{ui_url}/lead?id={hostile}")
            heading(page, XSS)
            settle(page)
            assert (page.locator("h1").filter(has_text=XSS).first.text_content() or "").strip() == XSS
            playwright_api.expect(page.get_by_label("Company", exact=True)).to_have_value(XSS, timeout=TIMEOUT_MS)
            page.get_by_role("tab", name="HTML source").click()
            page.get_by_text("<script>alert(2)</script>").first.wait_for(timeout=TIMEOUT_MS)
            assert page.locator("img[src='x']").count() == 0
            screenshot(page, "lead_markup_as_text")

            for name in ("Review", "Dashboard", "Settings"):  # the pages at 1440 and 390 px: tests/test_ui_layout.py
                page.get_by_role("link", name=name).click()
                heading(page, name)
                if name == "Dashboard":
                    screenshot(page, "dashboard")
        except Exception:
            screenshot(page, "failure")
            raise
        finally:
            browser.close()
    assert dialogs == []
    with Session(engine) as session:
        lead = get_lead(session=session, lead_id=plain)
        assert lead.company == "Muster GmbH"
        assert lead.fields["company"]["provenance"] == "operator"


def test_operator_restores_junk_and_reads_a_score_in_the_browser(
    ui: tuple[str, str], engine: Engine, settings: Settings
) -> None:
    ui_url, api_url = ui
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        try:
            page.goto(ui_url)
            sign_in(page)
            session_cookie(page)  # later page loads stay signed in
            heading(page, "Inbox")
            wait_for_http(f"{api_url}/api/health", timeout=30)
            hot = ingest(
                api_url, "Neue Anfrage: Gabelstapler",
                "Firma: Brandl Logistik GmbH\nAnsprechpartner: Josef Brandl\nE-Mail: j.brandl@brandl-logistik.de\n"
                "Telefon: 089 1234567\nNachricht: Wir brauchen dringend ein Angebot, Budget 60.000 EUR.",
            )  # fmt: skip
            auto_reply = httpx.post(
                f"{api_url}/api/ingest",
                json={"subject": "Automatic reply: Ihre Anfrage", "sender": "Karen Miles <k.miles@miles-co.de>",
                      "raw_body": "I am out of the office until Monday."},
                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
            ).json()["lead_id"]  # fmt: skip
            run_due_jobs(engine, settings)

            page.get_by_role("link", name="Review").click()
            heading(page, "Review")
            page.get_by_text("Rejected (1)", exact=True).click()
            settle(page)
            page.get_by_text("All 1 shown").click()
            settle(page)
            page.get_by_role("button", name="Restore").click()
            page.get_by_text("Restored to review: 1 lead.").wait_for(timeout=TIMEOUT_MS)
            screenshot(page, "review_restored")

            page.goto(f"{ui_url}/lead?id={hot}")
            heading(page, "Brandl Logistik GmbH")
            summary = page.get_by_text("how it is made up")
            summary.wait_for(timeout=TIMEOUT_MS)
            assert "(hot)" in (summary.text_content() or "")
            summary.click()
            settle(page)
            screenshot(page, "lead_score")
        except Exception:
            screenshot(page, "failure")
            raise
        finally:
            browser.close()
    with Session(engine) as session:
        assert get_lead(session=session, lead_id=auto_reply).status == "needs_review"
        assert get_lead(session=session, lead_id=hot).grade == "hot"
