"""An import's life: uploaded, started (dry or for real), run by a worker in batches that resume after a crash.

Each batch is one transaction: its new leads (with their stored rows, events and sync jobs), its merges, what
every row became and how far the import got, so a worker killed mid-import continues where the last commit
ended and no row is imported twice. A dry run takes the same path and writes only what the rows would become.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Session, col

from lead_engine.core.db import is_postgres, read_session
from lead_engine.core.errors import ConflictError, NotFoundError, UnprocessableError
from lead_engine.core.ids import new_id
from lead_engine.core.imports.dedup import DedupIndex, DedupKey, Draft, OnMatch, Outcome, Target, merge_changes
from lead_engine.core.imports.mapping import (
    TARGET_LABELS,
    check_mapping,
    column_samples,
    remember_mapping,
    saved_mapping,
    suggest_mapping,
)
from lead_engine.core.imports.reading import Table, read_table
from lead_engine.core.imports.rows import (
    IMPORT_ROW_TYPE,
    IMPORT_TEMPLATE,
    RowReading,
    mapped_values,
    read_row,
    row_body,
)
from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.leads import enqueue_sync, lock_leads, record_event
from lead_engine.core.models import ImportRow, Lead, LeadEvent, LeadImport, RawMessage, utcnow
from lead_engine.core.parsing.normalise import normalize_country
from lead_engine.core.qualification.routing import (
    AUTO_APPROVED,
    Route,
    approval_budget,
    parse_confidence,
    review_deadline,
    route_lead,
    use_auto_approvals,
)
from lead_engine.core.qualification.rules import Rules, rules_source
from lead_engine.core.qualification.scoring import (
    LeadFacts,
    Verdict,
    apply_verdict,
    lead_values,
    score_lead,
    score_stored_lead,
)
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import IMPORT_BUSY, ImportStatus, LeadStatus

logger = logging.getLogger(__name__)

BATCH_ROWS = 500
STATUS_WORDS = {LeadStatus.READY: "ready, approved automatically", LeadStatus.NEEDS_REVIEW: "needs review"}
Progress = Callable[[LeadImport], None]


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


@dataclass
class _Row:
    number: int
    values: dict[str, str]
    reading: RowReading
    outcome: Outcome = Outcome.NEW
    reason: str = ""
    target: Target | None = None
    changes: dict[str, Any] = field(default_factory=dict)


class ImportRun:
    """One pass over an import's rows by one worker, a batch per transaction."""

    def __init__(self, engine: Engine, settings: Settings, record: LeadImport, *, worker: str) -> None:
        self.engine, self.settings, self.record, self.worker = engine, settings, record, worker
        self.table: Table = read_table(record.file, max_bytes=len(record.file) + 1)
        self.options = dict(record.options)
        self.on_match = OnMatch(self.options["on_match"])
        self.rules: Rules = rules_source(settings.rules_file).current()
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.dry_values: dict[str, dict[str, Any]] = {}
        self.dry_approved = 0
        with read_session(engine) as session:
            self.index = DedupIndex.load(
                session=session, dedup=DedupKey(self.options["dedup"]), excluded=settings.own_domains,
                import_id=record.id,
            )  # fmt: skip

    def run(self, progress: Progress | None = None, stop: threading.Event | None = None) -> bool:
        """Every remaining batch; False when another worker took the import over, or ``stop`` was set."""
        record = self.record
        for start in range(record.rows_done, len(self.table.rows), BATCH_ROWS):
            if stop is not None and stop.is_set():
                return self.release()
            rows = self.read_rows(start, min(start + BATCH_ROWS, len(self.table.rows)))
            if not self.write_batch(rows, end=start + len(rows)):
                return False
            if progress is not None:
                progress(record)
        return self.finish()

    def read_rows(self, start: int, end: int) -> list[_Row]:
        """The batch's rows as leads, and what each one becomes against the leads and rows seen so far."""
        header, mapping, country = self.table.header, self.record.mapping, self.options["country"]
        rows = []
        for number, cells in zip(self.table.numbers[start:end], self.table.rows[start:end], strict=True):
            values = mapped_values(header, cells, mapping)
            row = _Row(number, values, read_row(values, country=country, disposable=self.rules.junk.disposable))
            rows.append(row)
            if row.reading.rejected:
                row.outcome, row.reason = Outcome.REJECTED, row.reading.rejected
                continue
            key = self.index.key(row.reading.parsed)
            target = self.index.targets.get(key) if key else None
            if target is None:
                draft = Draft(new_id(), number, row.reading.parsed)
                row.target = Target(draft.lead_id, number, draft)
                if key:
                    self.index.targets[key] = row.target
            elif target.draft is not None:
                self.merge_into_draft(row, target)
            else:
                row.target, row.outcome = target, Outcome.MERGED  # settled against the stored lead when written
        return rows

    def merge_into_draft(self, row: _Row, target: Target) -> None:
        assert target.draft is not None
        parsed = target.draft.parsed
        current = {name: found.value for name, found in parsed.fields.items()}
        changes, _ = merge_changes(current, {}, row.reading.parsed, self.on_match)
        self.settle(row, target, changes, [])
        for name in changes:
            parsed.fields[name] = row.reading.parsed.fields[name]

    def settle(self, row: _Row, target: Target, changes: dict[str, tuple[Any, str]], kept: list[str]) -> None:
        """Word what a repeat row did: merged (which fields), or skipped (and why)."""
        row.target = target
        who = f"row {target.row} of this file" if target.row is not None else f"lead {target.lead_id}"
        if changes:
            row.outcome, row.reason = Outcome.MERGED, f"merged into {who}: {', '.join(changes)}"
            row.changes = {name: {"old": old, "new": new} for name, (old, new) in changes.items()}
        else:
            row.outcome = Outcome.SKIPPED
            row.reason = f"duplicate of {who}" + ("" if self.on_match == OnMatch.SKIP else "; nothing new to add")
        if kept:
            row.reason += f" (kept what a person set: {', '.join(kept)})"

    def write_batch(self, rows: list[_Row], *, end: int) -> bool:
        """One transaction: the batch's leads and merges (none in a dry run), its rows' outcomes, the progress."""
        drafts = [row for row in rows if row.outcome == Outcome.NEW]
        verdicts = {row.number: self.score(row) for row in drafts}
        dry_run = self.record.dry_run
        with Session(self.engine, expire_on_commit=False) as session:
            stored = [row for row in rows if row.outcome == Outcome.MERGED and row.target and not row.target.draft]
            self.merge_stored(session, stored, write=not dry_run)
            routes = self.route(session, drafts, verdicts, write=not dry_run)
            if not dry_run:
                self.insert_leads(session, drafts, verdicts, routes)
            for row in drafts:
                row.reason = f"new lead ({STATUS_WORDS[routes[row.number].status]})"
            session.execute(insert(ImportRow), [self.outcome_row(row) for row in rows])
            counts = dict(self.record.counts)
            for row in rows:
                counts[row.outcome] = counts.get(row.outcome, 0) + 1
            for route in routes.values():
                counts[route.status] = counts.get(route.status, 0) + 1
            now = utcnow()
            claimed = session.execute(
                update(LeadImport)
                .where(col(LeadImport.id) == self.record.id, col(LeadImport.locked_by) == self.worker)
                .values(rows_done=end, counts=counts, locked_until=now + self.lease, updated_at=now)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                session.rollback()
                logger.warning("import taken over", extra={"action": "import.lease_lost", "import_id": self.record.id})
                return False
            session.commit()
        for row in drafts:
            if not dry_run and row.target is not None:
                row.target.draft = None  # stored now: later repeats merge into the stored lead
        self.record.rows_done, self.record.counts = end, counts
        return True

    def score(self, row: _Row) -> Verdict:
        parsed = row.reading.parsed
        values = {name: parsed.value(name) for name in CANONICAL_FIELDS}
        facts = LeadFacts(values=values, subject="", template=IMPORT_TEMPLATE, source="import",
                          excluded_domains=tuple(self.settings.own_domains))  # fmt: skip
        return score_lead(facts, self.rules)

    def route(
        self, session: Session, drafts: list[_Row], verdicts: dict[int, Verdict], *, write: bool
    ) -> dict[int, Route]:
        """Each new lead's route: ready within today's automatic approvals (counted when writing), else review."""
        # A dry run takes none of today's approvals: it counts those it would have taken itself.
        remaining = approval_budget(session=session, settings=self.settings, lock=write) - self.dry_approved

        def take() -> bool:
            nonlocal remaining
            remaining -= 1
            return remaining >= 0

        routes: dict[int, Route] = {}
        for row in drafts:
            parsed = row.reading.parsed
            meta = {name: {"confidence": found.confidence} for name, found in parsed.fields.items()}
            routes[row.number] = route_lead(
                verdicts[row.number], values={name: parsed.value(name) for name in CANONICAL_FIELDS},
                confidence=parse_confidence(meta), junk=None, doubts=parsed.reasons, settings=self.settings,
                claim_approval=take,
            )  # fmt: skip
        approved = sum(route.auto_approved for route in routes.values())
        if write and approved:
            use_auto_approvals(session=session, settings=self.settings, count=approved)
        elif not write:
            self.dry_approved += approved
        return routes

    def merge_stored(self, session: Session, rows: list[_Row], *, write: bool) -> None:
        """Settle repeats of stored leads; when writing, merge into them (row-locked) and score them again."""
        if not rows:
            return
        ids = [row.target.lead_id for row in rows if row.target]
        leads = lock_leads(session=session, lead_ids=ids) if write else {
            lead.id: lead for lead in session.scalars(select(Lead).where(col(Lead.id).in_(ids)))
        }  # fmt: skip
        for row in rows:
            assert row.target is not None
            lead = leads.get(row.target.lead_id)
            if lead is None:  # removed since the index was read: the row makes a lead after all
                row.outcome, row.reason = Outcome.REJECTED, f"its lead {row.target.lead_id} was deleted meanwhile"
                continue
            # A dry run changes no lead: what earlier rows would have merged into it is kept here instead.
            current = lead_values(lead) if write else self.dry_values.setdefault(lead.id, lead_values(lead))
            changes, kept = merge_changes(current, lead.fields, row.reading.parsed, self.on_match)
            self.settle(row, row.target, changes, kept)
            if not write:
                current.update({name: new for name, (_, new) in changes.items()})
            if not write or not changes:
                continue
            meta = dict(lead.fields)
            for name, (_, new) in changes.items():
                row.changes[name]["old_meta"] = meta.get(name)
                setattr(lead, name, new)
                meta[name] = {"provenance": "import", "confidence": row.reading.parsed.fields[name].confidence}
            lead.fields, lead.updated_at, lead.version = meta, utcnow(), lead.version + 1
            apply_verdict(lead, score_stored_lead(lead, self.rules, excluded_domains=self.settings.own_domains))
            session.add(lead)
            record_event(
                session=session, lead_id=lead.id, action="import_merged", actor=self.record.created_by,
                import_id=self.record.id, file=self.record.filename, row=row.number, changes=row.changes,
            )  # fmt: skip

    def insert_leads(
        self, session: Session, drafts: list[_Row], verdicts: dict[int, Verdict], routes: dict[int, Route]
    ) -> None:
        """The batch's new leads with their stored rows and events in one INSERT each; approved ones queue a sync."""
        now, record = utcnow(), self.record
        due = review_deadline(self.settings, now)
        raws, leads, events = [], [], []
        for row in drafts:
            assert row.target is not None
            lead_id, raw_id, parsed, verdict = row.target.lead_id, new_id(), row.reading.parsed, verdicts[row.number]
            raws.append({
                "id": raw_id, "received_at": now, "content_type": IMPORT_ROW_TYPE, "request_headers": {},
                "body": row_body(import_id=record.id, filename=record.filename, row=row.number, values=row.values,
                                 country=self.options["country"]),
            })  # fmt: skip
            status, reasons = routes[row.number].status, routes[row.number].reasons
            lead: dict[str, Any] = {name: found.value for name, found in parsed.fields.items()}
            lead.update(
                id=lead_id, raw_message_id=raw_id, status=status, source="import", received_at=now, updated_at=now,
                subject=f"{record.filename}, row {row.number}"[:2000], template=IMPORT_TEMPLATE,
                fields={name: {"provenance": "import", "confidence": round(found.confidence, 3)}
                        for name, found in parsed.fields.items()},
                score=verdict.score, qualified=verdict.qualified, grade=verdict.grade.value,
                score_components=verdict.as_json(), reasons=reasons, version=1,
                review_due_at=due if status == LeadStatus.NEEDS_REVIEW else None,
            )  # fmt: skip
            leads.append(lead)
            detail = {"import_id": record.id, "file": record.filename, "row": row.number}
            events.append({"lead_id": lead_id, "at": now, "actor": record.created_by, "action": "imported",
                           "detail": detail})  # fmt: skip
            if status == LeadStatus.READY:
                events.append({"lead_id": lead_id, "at": now, "actor": "system", "action": AUTO_APPROVED,
                               "detail": {"reason": reasons[0]}})  # fmt: skip
        if not leads:
            return
        session.execute(insert(RawMessage), raws)
        columns = {key for lead in leads for key in lead}
        session.execute(insert(Lead), [{name: lead.get(name) for name in columns} for lead in leads])
        session.execute(insert(LeadEvent), events)
        if self.settings.sync_enabled:
            for lead in leads:
                if lead["status"] == LeadStatus.READY:
                    enqueue_sync(session, self.settings, lead["id"])

    def outcome_row(self, row: _Row) -> dict[str, Any]:
        lead_id = row.target.lead_id if row.target is not None and row.outcome != Outcome.REJECTED else None
        if self.record.dry_run and row.target is not None and row.target.draft is not None:
            lead_id = None  # a lead the dry run did not write
        changes = row.changes if row.outcome == Outcome.MERGED else {}
        return {"import_id": self.record.id, "row": row.number, "outcome": row.outcome, "lead_id": lead_id,
                "reason": row.reason, "changes": changes}  # fmt: skip

    def release(self) -> bool:
        """Hand the import back to the queue where it stopped (the worker is stopping); another one continues it."""
        with Session(self.engine) as session:
            session.execute(
                update(LeadImport)
                .where(col(LeadImport.id) == self.record.id, col(LeadImport.locked_by) == self.worker)
                .values(status=ImportStatus.QUEUED, locked_by=None, locked_until=None, updated_at=utcnow())
            )
            session.commit()
        return False

    def finish(self) -> bool:
        """Mark the pass finished: checked (a dry run) or done."""
        status = ImportStatus.CHECKED if self.record.dry_run else ImportStatus.DONE
        with Session(self.engine) as session:
            now = utcnow()
            result = session.execute(
                update(LeadImport)
                .where(col(LeadImport.id) == self.record.id, col(LeadImport.locked_by) == self.worker)
                .values(status=status, locked_by=None, locked_until=None, finished_at=now, updated_at=now)
            )
            session.commit()
        self.record.status = status
        logger.info(
            "import finished",
            extra={"action": "import.finished", "import_id": self.record.id, "status": status, **self.record.counts},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def run_import(
    engine: Engine,
    settings: Settings,
    import_id: str,
    *,
    worker: str,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Run a claimed import to its end; an unexpected error marks it failed (with the error) instead of looping."""
    with read_session(engine) as session:
        record = get_import(session=session, import_id=import_id)
    try:
        return ImportRun(engine, settings, record, worker=worker).run(progress, stop)
    except Exception as exc:  # the import's outermost frame: the worker must go on with other work
        logger.exception("import failed", extra={"action": "import.failed", "import_id": import_id})
        with Session(engine) as session:
            session.execute(
                update(LeadImport)
                .where(col(LeadImport.id) == import_id, col(LeadImport.locked_by) == worker)
                .values(status=ImportStatus.FAILED, error=str(exc)[:500], locked_by=None, locked_until=None)
            )
            session.commit()
        return False
