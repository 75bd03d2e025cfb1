"""``python -m lead_engine import``: a spreadsheet from the command line, dry first, then for real, then undone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from lead_engine.core.models import Lead
from lead_engine.core.settings import Settings
from tests.support.servers import engine_env

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


def lead_engine(settings: Settings, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lead_engine", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env=engine_env({"LEAD_ENGINE_DATABASE_URL": settings.database_url}),
    )  # fmt: skip


def count_leads(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Lead)) or 0


def test_dry_run_import_report_and_undo(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    sheet = FIXTURES / "excel_semicolon_cp1252.csv"
    dry = lead_engine(settings, "import", str(sheet), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "excel_semicolon_cp1252.csv: 3 row(s), cp1252" in dry.stdout
    assert re.search(r"Bemerkung\s+→ Message / notes", dry.stdout)
    assert "3 row(s) would become: 3 new" in dry.stdout and "nothing was written" in dry.stdout
    assert count_leads(engine) == 0

    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Firma": "company", "E-Mail": "email", "Telefon": "phone", "Bemerkung": ""}))
    real = lead_engine(settings, "import", str(sheet), "--mapping", str(mapping), "--report", "report.csv",
                       cwd=tmp_path)  # fmt: skip
    assert real.returncode == 0, real.stderr
    assert "3 row(s) became: 3 new" in real.stdout
    assert re.search(r"Vorname\s+→ \(left out\)", real.stdout)
    report = (tmp_path / "report.csv").read_text(encoding="utf-8").splitlines()
    assert report[0].startswith("Row,Outcome,Reason,Lead,Firma,Anrede")
    assert report[1].startswith("2,new,new lead") and "Müller & Söhne GmbH" in report[1]
    with Session(engine) as session:
        names = set(session.scalars(select(Lead.contact_name)))
    assert names == {None}  # the names were left out by the mapping given

    again = lead_engine(settings, "import", str(sheet), cwd=tmp_path)
    assert "3 row(s) became: 3 skipped" in again.stdout  # the same people again: found by their e-mail

    import_id = re.search(r"--undo (\w+)", real.stdout)
    assert import_id is not None
    undone = lead_engine(settings, "import", "--undo", import_id.group(1), cwd=tmp_path)
    assert undone.returncode == 0, undone.stderr
    assert "3 lead(s) removed" in undone.stdout
    assert count_leads(engine) == 0


def test_errors_end_with_a_reason_and_status_1(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    picture = tmp_path / "logo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    answer = lead_engine(settings, "import", str(picture), cwd=tmp_path)
    assert answer.returncode == 1
    assert "error: this is not a spreadsheet" in answer.stderr
    missing = lead_engine(settings, "import", str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert missing.returncode == 1 and "No such file or directory" in missing.stderr
    wrong = lead_engine(settings, "import", str(FIXTURES / "hubspot_contacts.csv"), "--country", "Narnia", cwd=tmp_path)
    assert wrong.returncode == 1 and "'Narnia' is not a country code" in wrong.stderr
