"""Running an import in batches that resume after a crash; each batch one transaction.

A batch's transaction holds its new leads (with their stored rows, events and sync jobs), its merges, what
every row became and how far the import got, so a worker killed mid-import continues where the last commit
ended and no row is imported twice. A dry run takes the same path and writes only what the rows would become.
Reading and scoring the rows runs on a second core (see ``row_reader``) while the batch before is written.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from lead_engine.core.bulk import insert_many
from lead_engine.core.db import read_session
from lead_engine.core.ids import new_id
from lead_engine.core.imports.dedup import DedupIndex, DedupKey, Draft, OnMatch, Outcome, Target, merge_changes
from lead_engine.core.imports.lifecycle import get_import
from lead_engine.core.imports.new_leads import NewLead, insert_new_leads
from lead_engine.core.imports.reading import Table, read_table
from lead_engine.core.imports.row_reader import PendingBatch, ReadRow, RowReader, score_parsed
from lead_engine.core.imports.rows import (
    RowReading,
    mapped_values,
)
from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.leads import lock_leads, record_event
from lead_engine.core.models import ImportRow, Lead, LeadImport, utcnow
from lead_engine.core.qualification.routing import (
    Route,
    approval_budget,
    parse_confidence,
    route_lead,
    use_auto_approvals,
)
from lead_engine.core.qualification.rules import Rules, rules_source
from lead_engine.core.qualification.scoring import (
    Verdict,
    apply_verdict,
    lead_values,
    score_stored_lead,
)
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import ImportStatus, LeadStatus

logger = logging.getLogger(__name__)

BATCH_ROWS = 500
# Batches read (on the second core) ahead of the one being written.
READ_AHEAD = 2
STATUS_WORDS = {LeadStatus.READY: "ready, approved automatically", LeadStatus.NEEDS_REVIEW: "needs review"}
Progress = Callable[[LeadImport], None]


@dataclass
class _Row:
    number: int
    values: dict[str, str]
    reading: RowReading
    outcome: Outcome = Outcome.NEW
    reason: str = ""
    target: Target | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None


def _merged(row: _Row) -> bool:
    return row.target is not None and row.target.draft is not None and row.target.draft.merged


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
        record, total = self.record, len(self.table.rows)
        starts = deque(range(record.rows_done, total, BATCH_ROWS))
        reader = RowReader(rows=total - record.rows_done, country=self.options["country"],
                           rules_file=self.settings.rules_file, excluded=tuple(self.settings.own_domains))  # fmt: skip
        pending: deque[tuple[int, list[dict[str, str]], PendingBatch]] = deque()
        try:
            while starts or pending:
                while starts and len(pending) < READ_AHEAD:
                    start = starts.popleft()
                    values = self.mapped(start)
                    pending.append((start, values, reader.submit(values)))
                if stop is not None and stop.is_set():
                    return self.release()
                start, values, read = pending.popleft()
                rows = self.plan(start, values, read.result())
                if not self.write_batch(rows, end=start + len(rows)):
                    return False
                if progress is not None:
                    progress(record)
        finally:
            reader.close()
        return self.finish()

    def mapped(self, start: int) -> list[dict[str, str]]:
        """The mapped cells of the batch that starts at ``start``."""
        header, mapping = self.table.header, self.record.mapping
        return [mapped_values(header, cells, mapping) for cells in self.table.rows[start : start + BATCH_ROWS]]

    def plan(self, start: int, values: list[dict[str, str]], read: list[ReadRow]) -> list[_Row]:
        """The batch's rows as leads, and what each one becomes against the leads and rows seen so far."""
        rows = []
        numbers = self.table.numbers[start : start + len(read)]
        for number, mapped, item in zip(numbers, values, read, strict=True):
            row = _Row(number, mapped, item.reading, verdict=item.verdict)
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
        target.draft.merged = target.draft.merged or bool(changes)

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
        # A lead a later row of the batch merged into is scored again with what it has now.
        verdicts = {row.number: self.score(row) if _merged(row) or not row.verdict else row.verdict for row in drafts}
        dry_run = self.record.dry_run
        with Session(self.engine, expire_on_commit=False) as session:
            stored = [row for row in rows if row.outcome == Outcome.MERGED and row.target and not row.target.draft]
            self.merge_stored(session, stored, write=not dry_run)
            routes = self.route(session, drafts, verdicts, write=not dry_run)
            if not dry_run:
                new = [
                    NewLead(row.target.lead_id, row.number, row.values, row.reading.parsed, verdicts[row.number],
                            routes[row.number])
                    for row in drafts if row.target is not None
                ]  # fmt: skip
                insert_new_leads(session, self.settings, self.record, new)
            for row in drafts:
                row.reason = f"new lead ({STATUS_WORDS[routes[row.number].status]})"
            insert_many(session, ImportRow, [self.outcome_row(row) for row in rows])
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
        return score_parsed(row.reading.parsed, self.rules, excluded=tuple(self.settings.own_domains))

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

    def outcome_row(self, row: _Row) -> dict[str, Any]:
        lead_id = row.target.lead_id if row.target is not None and row.outcome != Outcome.REJECTED else None
        if self.record.dry_run and row.target is not None and row.target.draft is not None:
            lead_id = None  # a lead the dry run did not write
        changes = row.changes if row.outcome == Outcome.MERGED else {}
        return {"import_id": self.record.id, "row": row.number, "outcome": row.outcome, "lead_id": lead_id,
                "reason": row.reason, "changes": changes}  # fmt: skip

    def release(self) -> bool:
        """Hand the import back to the queue where it stopped (the worker is stopping); another one continues it."""
        end_pass(self.engine, self.record.id, self.worker, status=ImportStatus.QUEUED)
        return False

    def finish(self) -> bool:
        """Mark the pass finished: checked (a dry run) or done."""
        status = ImportStatus.CHECKED if self.record.dry_run else ImportStatus.DONE
        ended = end_pass(self.engine, self.record.id, self.worker, status=status, finished_at=utcnow())
        self.record.status = status
        logger.info(
            "import finished",
            extra={"action": "import.finished", "import_id": self.record.id, "status": status, **self.record.counts},
        )
        return ended


def end_pass(engine: Engine, import_id: str, worker: str, **values: Any) -> bool:
    """Give up this worker's lease on the import with ``values`` set; False when another worker holds it now."""
    with Session(engine) as session:
        result = session.execute(
            update(LeadImport)
            .where(col(LeadImport.id) == import_id, col(LeadImport.locked_by) == worker)
            .values(locked_by=None, locked_until=None, updated_at=utcnow(), **values)
        )
        session.commit()
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
        end_pass(engine, import_id, worker, status=ImportStatus.FAILED, error=str(exc)[:500])
        return False
