"""Importing a spreadsheet in headless Chromium: upload, check the mapping, dry run, import, report, undo.

The UI and a worker run as their own processes, as supervisord runs them: the import runs in the worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from lead_engine.core.models import Lead
from lead_engine.core.settings import Settings
from tests.support.servers import engine_process
from tests.test_sync_workers import worker_env
from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, heading, screenshot, settle, sign_in
from tests.test_ui_browser import ui as ui  # the UI process, as the other browser tests start it

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures" / "imports"
HEADER_OUTLOOK = (FIXTURES / "outlook_contacts_de.csv").read_text().splitlines()[0].replace('"', "").split(",")


@pytest.fixture
def worker(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[None]:
    """The worker process that runs queued imports."""
    folder = tmp_path / "worker"
    folder.mkdir()
    with engine_process("worker", worker_env(settings), cwd=folder):
        yield


def leads(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Lead)) or 0


def test_upload_map_check_import_report_and_undo_in_the_browser(
    ui: tuple[str, str], worker: None, engine: Engine, tmp_path: Path
) -> None:
    ui_url, _ = ui
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        page.goto(f"{ui_url}/import")
        sign_in(page)
        heading(page, "Import")
        settle(page)
        page.locator("input[type=file]").set_input_files(str(FIXTURES / "outlook_contacts_de.csv"))
        heading(page, "outlook_contacts_de.csv")
        settle(page)
        page.get_by_text("2 rows · utf-8", exact=False).wait_for(timeout=TIMEOUT_MS)
        # The suggested mapping, with examples: Outlook's German column names land on the lead's fields.
        grid = page.locator("table[role=grid]").first
        for column, field in [("Firma", "Company"), ("Straße geschäftlich", "Street"), ("E-Mail-Adresse", "E-mail")]:
            row = grid.locator("tr").filter(has_text=column).filter(has_text=field).first
            row.wait_for(state="attached", timeout=TIMEOUT_MS)
        # Leave "Notizen" out: a person changes the suggestion in the table (keyboard: to the cell, edit, pick).
        canvas = page.get_by_test_id("stDataFrameResizable").first
        box = canvas.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 20, box["y"] + 35 + 17)
        notes = next(index for index, name in enumerate(HEADER_OUTLOOK) if name == "Notizen")
        for key in ["ArrowRight", "ArrowRight", *["ArrowDown"] * notes, "Enter"]:
            page.keyboard.press(key)
        page.keyboard.type("(leave out)")
        page.keyboard.press("Enter")
        settle(page)
        grid.locator("tr").filter(has_text="Notizen").filter(has_text="(leave out)").first.wait_for(
            state="attached", timeout=TIMEOUT_MS
        )
        page.get_by_text("Fill the lead's empty fields").click()
        settle(page)

        page.get_by_role("button", name="Check (dry run)").click()
        page.get_by_text("Checked: nothing was written yet").wait_for(timeout=TIMEOUT_MS)
        settle(page)
        assert leads(engine) == 0
        metric = page.get_by_test_id("stMetric").filter(has_text="New leads")
        assert metric.get_by_test_id("stMetricValue").inner_text() == "2"

        page.get_by_role("button", name="Import 2 rows").click()
        page.get_by_text("by operator · Imported").wait_for(timeout=TIMEOUT_MS)
        settle(page)
        assert leads(engine) == 2
        with Session(engine) as session:
            imported = {lead.company: lead for lead in session.scalars(select(Lead))}
        vogel = imported["Vogel Maschinenbau GmbH"]
        assert (vogel.contact_name, vogel.city, vogel.phone) == ("Katrin Vogel", "Bremen", "+49421556677")
        assert vogel.message is None  # "Notizen" was left out in the table
        screenshot(page, "import")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download the report (CSV)").click()
        report = Path(download_info.value.path()).read_text(encoding="utf-8")
        assert report.splitlines()[0].startswith("Row,Outcome,Reason,Lead,Anrede,Vorname")
        assert "Vogel Maschinenbau GmbH" in report and report.count("\nnew,") == 0 and report.count(",new,") == 2

        page.get_by_role("button", name="Undo this import").click()
        page.get_by_role("button", name="Yes, undo it").click()
        page.get_by_text("2 lead(s) removed").wait_for(timeout=TIMEOUT_MS)
        assert leads(engine) == 0
        browser.close()
