"""A worker killed in the middle of an import: another one continues where the last commit ended, no row twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from lead_engine.core.db import read_session
from lead_engine.core.imports.lifecycle import create_import, get_import, start_import
from lead_engine.core.models import ImportRow, Lead, LeadEvent, RawMessage
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import ImportStatus
from tests.support.servers import engine_process
from tests.support.spreadsheets import HEADER, csv_bytes, lead_rows
from tests.test_sync_workers import wait_for, worker_env

pytestmark = pytest.mark.slow
ROWS = 12_000


def _done(engine: Engine, import_id: str) -> int:
    with read_session(engine) as session:
        return get_import(session=session, import_id=import_id).rows_done


def test_a_worker_killed_mid_import_is_continued_by_another_without_duplicates(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rows = lead_rows(ROWS)
    rows += [list(row) for row in rows[:50]]  # repeats of the first rows, at the end: skipped, not made twice
    with Session(engine, expire_on_commit=False) as session:
        record = create_import(session=session, settings=settings, filename="messe.csv",
                               data=csv_bytes(HEADER, rows), actor="alice")  # fmt: skip
        start_import(session=session, settings=settings, import_id=record.id, dry_run=False)
    env = worker_env(settings, LEAD_ENGINE_JOB_LEASE_SECONDS="3")
    doomed, rescuer = tmp_path / "doomed", tmp_path / "rescuer"
    doomed.mkdir(), rescuer.mkdir()
    with engine_process("worker", env, cwd=doomed) as worker:
        wait_for(lambda: _done(engine, record.id) >= 1_000, timeout=120, what="the first batches")
        readers = _children(worker.pid)
        assert readers, "a big import reads its rows in a second process"
        worker.kill()
        worker.wait(timeout=10)
    # The killed worker's reading process ends with it instead of lingering.
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in readers), timeout=15, what="the reader's end")
    stopped_at = _done(engine, record.id)
    assert 0 < stopped_at < ROWS
    with engine_process("worker", env, cwd=rescuer):
        wait_for(lambda: _status(engine, record.id) == ImportStatus.DONE, timeout=300, what="the import's end")
    with read_session(engine) as session:
        finished = get_import(session=session, import_id=record.id)
        assert finished.counts["new"] == ROWS and finished.counts["skipped"] == 50
        assert session.scalar(select(func.count()).select_from(Lead)) == ROWS
        assert session.scalar(select(func.count(func.distinct(Lead.email)))) == ROWS
        assert session.scalar(select(func.count()).select_from(RawMessage)) == ROWS
        assert session.scalar(select(func.count()).select_from(LeadEvent).where(LeadEvent.action == "imported")) == ROWS
        assert session.scalar(select(func.count()).select_from(ImportRow)) == ROWS + 50
    assert "import.finished" in (rescuer / "worker.log").read_text()


def _children(parent: int) -> list[int]:
    """The processes ``parent`` started for multiprocessing (its second core)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def _status(engine: Engine, import_id: str) -> str:
    with read_session(engine) as session:
        return get_import(session=session, import_id=import_id).status
