"""An import's life before and after its run: uploaded, described, started (dry or for real), claimed by a worker."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session, col

from lead_engine.core.db import is_postgres
from lead_engine.core.errors import ConflictError, NotFoundError, UnprocessableError
from lead_engine.core.imports.dedup import DedupKey, OnMatch
from lead_engine.core.imports.mapping import (
    TARGET_LABELS,
    check_mapping,
    column_samples,
    remember_mapping,
    saved_mapping,
    suggest_mapping,
)
from lead_engine.core.imports.reading import read_table
from lead_engine.core.models import ImportRow, LeadImport, utcnow
from lead_engine.core.parsing.normalise import normalize_country
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import IMPORT_BUSY, ImportStatus

logger = logging.getLogger(__name__)


def import_options(settings: Settings, options: dict[str, Any] | None = None) -> dict[str, str]:
    """The options of a run, checked: dedup key, what a match does, and the country of numbers without one."""
    given = {**{"dedup": "email", "on_match": "skip", "country": settings.default_country}, **(options or {})}
    try:
        dedup, on_match = DedupKey(given["dedup"]).value, OnMatch(given["on_match"]).value
    except ValueError as exc:
        raise UnprocessableError(str(exc)) from None
    country = normalize_country(str(given["country"]))
    if country is None:
        raise UnprocessableError(f"{given['country']!r} is not a country code such as DE, AT, CH or GB")
    return {"dedup": dedup, "on_match": on_match, "country": country}


def create_import(*, session: Session, settings: Settings, filename: str, data: bytes, actor: str) -> LeadImport:
    """Read an uploaded file and keep it with a suggested mapping (the one used last for its layout, if any)."""
    table = read_table(data, max_bytes=int(settings.import_max_mb * 1_000_000))
    mapping = saved_mapping(session=session, header=table.header) or suggest_mapping(table.header)
    mapping = {name: mapping.get(name, "") for name in table.header}
    record = LeadImport(
        filename=(filename.strip() or "upload.csv")[:255], file=data, encoding=table.encoding,
        delimiter=table.delimiter, header=table.header, samples=column_samples(table), mapping=mapping,
        options=import_options(settings), rows_total=len(table.rows), created_by=actor,
    )  # fmt: skip
    session.add(record)
    session.commit()
    logger.info("import uploaded", extra={"action": "import.uploaded", "import_id": record.id, "rows": len(table.rows)})
    return record


def import_as_dict(record: LeadImport) -> dict[str, Any]:
    """The import in the shape of the API (and the UI): progress, counts, its columns with samples and fields."""
    columns = [
        {"name": name, "field": record.mapping.get(name, ""), "samples": record.samples.get(name, [])}
        for name in record.header
    ]
    data = record.model_dump(mode="json", exclude={"file", "header", "samples", "mapping", "locked_by"})
    return {**data, "columns": columns, "fields": TARGET_LABELS}


def get_import(*, session: Session, import_id: str) -> LeadImport:
    """The import, or NotFoundError."""
    record = session.get(LeadImport, import_id)
    if record is None:
        raise NotFoundError(f"import {import_id} not found")
    return record


def list_imports(*, session: Session, limit: int = 20) -> list[LeadImport]:
    """The latest imports, newest first."""
    return list(session.scalars(select(LeadImport).order_by(col(LeadImport.created_at).desc()).limit(limit)))


def start_import(
    *,
    session: Session,
    settings: Settings,
    import_id: str,
    dry_run: bool,
    mapping: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> LeadImport:
    """Queue a dry run or the import itself for a worker; an import that failed half-way continues where it stopped."""
    record = session.get(LeadImport, import_id, with_for_update=True)
    if record is None:
        raise NotFoundError(f"import {import_id} not found")
    if record.status in IMPORT_BUSY:
        raise ConflictError("this import is already running; wait for it to finish")
    if record.status in (ImportStatus.DONE, ImportStatus.UNDONE):
        raise ConflictError(f"this file was already imported ({record.status}); upload it again to import it again")
    resuming = record.status == ImportStatus.FAILED and not record.dry_run and record.rows_done > 0
    if resuming and not dry_run:
        record.status, record.error = ImportStatus.QUEUED, None
    else:
        try:
            record.mapping = check_mapping(record.header, record.mapping if mapping is None else mapping)
        except ValueError as exc:
            raise UnprocessableError(str(exc)) from None
        record.options = import_options(settings, {**record.options, **(options or {})})
        remember_mapping(session=session, header=record.header, mapping=record.mapping)
        record.status, record.dry_run, record.error = ImportStatus.QUEUED, dry_run, None
        record.rows_done, record.counts, record.finished_at = 0, {}, None
    record.updated_at = utcnow()
    session.add(record)
    session.commit()
    return record


def claim_import(*, session: Session, worker: str, lease_seconds: float) -> str | None:
    """Take the oldest queued import (or one whose worker's lease ran out) and commit the claim; its id or None."""
    now = utcnow()
    query = (
        select(LeadImport)
        .where(
            (col(LeadImport.status) == ImportStatus.QUEUED)
            | ((col(LeadImport.status) == ImportStatus.RUNNING) & (col(LeadImport.locked_until) < now))
        )
        .order_by(col(LeadImport.created_at))
        .limit(1)
    )
    if is_postgres(session.get_bind()):  # type: ignore[arg-type]
        query = query.with_for_update(skip_locked=True)
    record = session.scalars(query).first()
    if record is None:
        session.rollback()
        return None
    if (record.status == ImportStatus.QUEUED and record.rows_done == 0) or record.dry_run:
        # A fresh pass (or a dry run, which wrote no lead and simply starts over) forgets the last one's rows.
        session.execute(delete(ImportRow).where(col(ImportRow.import_id) == record.id))
        record.rows_done, record.counts = 0, {}
    record.status, record.locked_by = ImportStatus.RUNNING, worker
    record.locked_until, record.updated_at = now + timedelta(seconds=lease_seconds), now
    session.add(record)
    session.commit()
    return record.id
