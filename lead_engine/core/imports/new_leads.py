"""Writing the new leads of an import batch: each with its stored row, its events and, approved, its sync job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from lead_engine.core.bulk import insert_many
from lead_engine.core.ids import new_id
from lead_engine.core.imports.rows import IMPORT_ROW_TYPE, IMPORT_TEMPLATE, row_body
from lead_engine.core.lead_fields import ParsedLead
from lead_engine.core.leads import enqueue_sync
from lead_engine.core.models import Lead, LeadEvent, LeadImport, RawMessage, utcnow
from lead_engine.core.qualification.routing import AUTO_APPROVED, Route, review_deadline
from lead_engine.core.qualification.scoring import Verdict
from lead_engine.core.search import search_text
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import LeadStatus


@dataclass(frozen=True)
class NewLead:
    """A row that becomes a lead: its id, where it is in the file, what it holds, its score and its route."""

    lead_id: str
    row: int
    values: dict[str, str]
    parsed: ParsedLead
    verdict: Verdict
    route: Route


def _provenance(cache: dict[Any, str], parsed: ParsedLead) -> str:
    """The JSON text of the lead's per-field provenance, encoded once for every lead with the same fields."""
    key = tuple((name, round(found.confidence, 3)) for name, found in parsed.fields.items())
    if key not in cache:
        cache[key] = json.dumps({name: {"provenance": "import", "confidence": sure} for name, sure in key})
    return cache[key]


def _reasons(cache: dict[Any, str], reasons: list[str]) -> str:
    key = tuple(reasons)
    if key not in cache:
        cache[key] = json.dumps(reasons, ensure_ascii=False)
    return cache[key]


def insert_new_leads(session: Session, settings: Settings, record: LeadImport, new: list[NewLead]) -> None:
    """The leads with their stored rows and events, one INSERT per table, in the caller's transaction."""
    if not new:
        return
    now = utcnow()
    due = review_deadline(settings, now)
    country = record.options["country"]
    raws, leads, events = [], [], []
    # Most rows of a file share their fields' provenance and their review reasons: encoded once each.
    encoded: dict[Any, str] = {}
    for item in new:
        raw_id, parsed, verdict, route = new_id(), item.parsed, item.verdict, item.route
        raws.append({
            "id": raw_id, "received_at": now, "content_type": IMPORT_ROW_TYPE, "request_headers": "{}",
            "body": row_body(import_id=record.id, filename=record.filename, row=item.row, values=item.values,
                             country=country),
        })  # fmt: skip
        lead: dict[str, Any] = {name: found.value for name, found in parsed.fields.items()}
        lead.update(
            id=item.lead_id, raw_message_id=raw_id, status=route.status, source="import", received_at=now,
            updated_at=now, subject=f"{record.filename}, row {item.row}"[:2000], template=IMPORT_TEMPLATE,
            fields=_provenance(encoded, parsed), score=verdict.score, qualified=verdict.qualified,
            grade=verdict.grade.value, score_components=verdict.as_json(), reasons=_reasons(encoded, route.reasons),
            version=1, review_due_at=due if route.status == LeadStatus.NEEDS_REVIEW else None,
        )  # fmt: skip
        lead["search_text"] = search_text(lead)
        leads.append(lead)
        detail = {"import_id": record.id, "file": record.filename, "row": item.row}
        events.append({"lead_id": item.lead_id, "at": now, "actor": record.created_by, "action": "imported",
                       "detail": detail})  # fmt: skip
        if route.auto_approved:
            events.append({"lead_id": item.lead_id, "at": now, "actor": "system", "action": AUTO_APPROVED,
                           "detail": {"reason": route.reasons[0]}})  # fmt: skip
    insert_many(session, RawMessage, raws)
    insert_many(session, Lead, leads)
    insert_many(session, LeadEvent, events)
    if settings.sync_enabled:
        for item in new:
            if item.route.auto_approved:
                enqueue_sync(session, settings, item.lead_id)
