"""Undoing an import: the leads it made removed, the fields it merged restored — never what a person did since."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, exists, select
from sqlmodel import Session, col

from lead_engine.core.errors import ConflictError, NotFoundError
from lead_engine.core.imports.dedup import Outcome
from lead_engine.core.leads import lock_leads, record_event, rescore_lead
from lead_engine.core.models import IdempotencyKey, ImportRow, Job, Lead, LeadEvent, LeadImport, RawMessage, utcnow
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import ImportStatus, LeadStatus

logger = logging.getLogger(__name__)

CHUNK = 500
LISTED = 500
# A lead in these has (or is getting) a record in the Company Explorer: removing ours would orphan it.
IN_COMPANY_EXPLORER = frozenset({LeadStatus.SYNCING, LeadStatus.SYNCED})


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


def _created(session: Session, import_id: str) -> dict[str, int]:
    query = select(col(ImportRow.lead_id), col(ImportRow.row)).where(
        col(ImportRow.import_id) == import_id,
        col(ImportRow.outcome) == Outcome.NEW,
        col(ImportRow.lead_id).is_not(None),
    )
    return {lead_id: row for lead_id, row in session.execute(query)}


def _kept_leads(session: Session, ids: list[str]) -> dict[str, str]:
    """The leads made by the import that stay, and why: a person acted on them, or they are in the Company Explorer."""
    kept: dict[str, str] = {}
    for chunk in _chunks(ids):
        person = exists().where(
            col(LeadEvent.lead_id) == Lead.id, col(LeadEvent.actor) != "system", col(LeadEvent.action) != "imported"
        )
        query = select(col(Lead.id), col(Lead.status), col(Lead.company_explorer_id), person).where(
            col(Lead.id).in_(chunk)
        )
        for lead_id, status, company_explorer_id, acted in session.execute(query):
            if acted:
                kept[lead_id] = "a person changed or judged it since the import"
            elif status in IN_COMPANY_EXPLORER or company_explorer_id:
                kept[lead_id] = "it is in the Company Explorer already"
    return kept


def _remove_leads(session: Session, ids: list[str]) -> None:
    for chunk in _chunks(ids):
        raws = list(session.scalars(select(col(Lead.raw_message_id)).where(col(Lead.id).in_(chunk))))
        for table in (Job, LeadEvent, IdempotencyKey):
            session.execute(delete(table).where(col(table.lead_id).in_(chunk)))
        session.execute(delete(Lead).where(col(Lead.id).in_(chunk)))
        session.execute(
            delete(RawMessage).where(
                col(RawMessage.id).in_(raws), ~exists().where(col(Lead.raw_message_id) == RawMessage.id)
            )
        )


def _restore_merges(
    session: Session, settings: Settings, record: LeadImport, actor: str, skip: set[str]
) -> tuple[int, list[dict[str, Any]]]:
    """Put merged fields back (latest merge first) where they still hold what the import wrote."""
    query = (
        select(ImportRow)
        .where(col(ImportRow.import_id) == record.id, col(ImportRow.outcome) == Outcome.MERGED)
        .order_by(col(ImportRow.row).desc())
    )
    merges = [row for row in session.scalars(query) if row.lead_id and row.lead_id not in skip]
    leads = lock_leads(session=session, lead_ids=list({row.lead_id for row in merges if row.lead_id}))
    restored: set[str] = set()
    not_restored: list[dict[str, Any]] = []
    for merge in merges:
        lead = leads.get(merge.lead_id or "")
        if lead is None:
            continue
        meta, back = dict(lead.fields), {}
        for name, change in merge.changes.items():
            if getattr(lead, name) == change["new"] and meta.get(name, {}).get("provenance") == "import":
                setattr(lead, name, change["old"])
                if change.get("old_meta"):
                    meta[name] = change["old_meta"]
                else:
                    meta.pop(name, None)
                back[name] = {"from": change["new"], "to": change["old"]}
            else:
                not_restored.append({"lead_id": lead.id, "row": merge.row, "field": name,
                                     "why": "changed since the import; left as it is"})  # fmt: skip
        if back:
            lead.fields, lead.version, lead.updated_at = meta, lead.version + 1, utcnow()
            rescore_lead(lead, settings)
            session.add(lead)
            record_event(session=session, lead_id=lead.id, action="import_undone", actor=actor,
                         import_id=record.id, restored=back)  # fmt: skip
            restored.add(lead.id)
    return len(restored), not_restored


def undo_import(*, session: Session, settings: Settings, import_id: str, actor: str) -> LeadImport:
    """Remove the leads the import made and restore what it merged, in one transaction; what stays is listed."""
    record = session.get(LeadImport, import_id, with_for_update=True)
    if record is None:
        raise NotFoundError(f"import {import_id} not found")
    if record.status != ImportStatus.DONE:
        raise ConflictError(f"only a finished import can be undone; this one is {record.status}")
    created = _created(session, import_id)
    kept = _kept_leads(session, list(created))
    removed = [lead_id for lead_id in created if lead_id not in kept]
    _remove_leads(session, removed)
    restored, not_restored = _restore_merges(session, settings, record, actor, skip=set(created))
    record.status, record.updated_at = ImportStatus.UNDONE, utcnow()
    record.undo = {
        "by": actor, "at": utcnow().isoformat(), "removed": len(removed), "kept": len(kept),
        "kept_leads": [{"lead_id": lead_id, "row": created[lead_id], "why": why} for lead_id, why in kept.items()][
            :LISTED
        ],
        "restored": restored, "not_restored": len(not_restored), "not_restored_fields": not_restored[:LISTED],
    }  # fmt: skip
    session.add(record)
    session.commit()
    logger.info("import undone", extra={"action": "import.undone", "import_id": import_id, "removed": len(removed)})
    return record
