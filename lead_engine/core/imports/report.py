"""The per-row report of an import: every row with what became of it and why, next to the row's own cells."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, col

from lead_engine.core.exports import write_csv
from lead_engine.core.imports.reading import read_table
from lead_engine.core.models import ImportRow, LeadImport

REPORT_COLUMNS = ("Row", "Outcome", "Reason", "Lead")


def report_rows(
    *, session: Session, import_id: str, outcome: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[ImportRow], int]:
    """One page of the rows' outcomes (one outcome or all), in file order, and how many there are."""
    conditions = [col(ImportRow.import_id) == import_id]
    if outcome:
        conditions.append(col(ImportRow.outcome) == outcome)
    total = session.scalar(select(func.count()).select_from(ImportRow).where(*conditions)) or 0
    query = select(ImportRow).where(*conditions).order_by(col(ImportRow.row)).limit(limit).offset(offset)
    return list(session.scalars(query)), total


def report_csv(*, session: Session, record: LeadImport) -> str:
    """The whole report as CSV: row number, outcome, reason, lead id, then the row's cells (spreadsheet-safe)."""
    table = read_table(record.file, max_bytes=len(record.file) + 1)
    cells = dict(zip(table.numbers, table.rows, strict=True))
    query = select(ImportRow).where(col(ImportRow.import_id) == record.id).order_by(col(ImportRow.row))
    rows = session.scalars(query)
    return write_csv(
        [*REPORT_COLUMNS, *table.header],
        ([row.row, row.outcome, row.reason, row.lead_id or "", *cells.get(row.row, [])] for row in rows),
    )
