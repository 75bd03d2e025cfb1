"""Reading leads and the operator's use cases (correct, approve, reject, resync, reparse), which commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlmodel import Session, col

from lead_engine.core.errors import ConflictError, FieldErrors, NotFoundError, UnprocessableError
from lead_engine.core.job_kinds import PROCESS_JOB, PROCESS_MAX_ATTEMPTS, SYNC_JOB, process_job_key, sync_policy
from lead_engine.core.lead_fields import CANONICAL_FIELDS, FIELD_WORDS
from lead_engine.core.models import Job, Lead, LeadEvent, RawMessage, utcnow
from lead_engine.core.outbox import enqueue_job
from lead_engine.core.parsing.normalise import normalize_country, normalize_email, normalize_phone, normalize_website
from lead_engine.core.qualification.routing import refreshed_reasons, review_deadline
from lead_engine.core.qualification.rules import rules_source
from lead_engine.core.qualification.scoring import Verdict, apply_verdict, lead_values, score_stored_lead
from lead_engine.core.search import SEARCHED, relevance, search_condition, search_text
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import OPEN_JOB, RESYNCABLE, JobStatus, LeadStatus

STATUSES = tuple(LeadStatus)


def has_event(*, session: Session, lead_id: str, action: str) -> bool:
    """Whether the lead's audit trail has the action at least once (approved, restored …)."""
    query = select(exists().where(col(LeadEvent.lead_id) == lead_id, col(LeadEvent.action) == action))
    return bool(session.scalar(query))


def enter_status(lead: Lead, status: LeadStatus, settings: Settings) -> None:
    """Move the lead to a status; entering review starts its review deadline."""
    if status == LeadStatus.NEEDS_REVIEW and (lead.status != status or lead.review_due_at is None):
        lead.review_due_at = review_deadline(settings)
    elif status != LeadStatus.NEEDS_REVIEW:
        lead.review_due_at = None
    lead.status = status


def lead_in_work(*, session: Session, lead_id: str, within: float = 60.0) -> bool:
    """Whether a job of the lead (parse, sync, notify) runs now or is due within ``within`` seconds."""
    soon = utcnow() + timedelta(seconds=within)
    query = select(
        exists().where(col(Job.lead_id) == lead_id, col(Job.status).in_(OPEN_JOB), col(Job.run_after) <= soon)
    )
    return bool(session.scalar(query))


def record_event(*, session: Session, lead_id: str, action: str, actor: str = "system", **detail: Any) -> None:
    """Add a line to the lead's audit trail in the caller's transaction."""
    session.add(LeadEvent(lead_id=lead_id, action=action, actor=actor, detail=detail))


def lead_conditions(
    *,
    status: str | None = None,
    source: str | None = None,
    q: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: int | None = None,
    grade: str | None = None,
    dialect: str = "sqlite",
) -> list[Any]:
    """The WHERE conditions of a lead filter (statuses and grades comma-separated; ``q`` as core.search reads it)."""
    conditions: list[Any] = []
    if status:
        conditions.append(col(Lead.status).in_(status.split(",")))
    if grade:
        conditions.append(col(Lead.grade).in_(grade.split(",")))
    if source:
        conditions.append(Lead.source == source)
    if since:
        conditions.append(Lead.received_at >= since)
    if until:
        conditions.append(Lead.received_at < until)
    if min_score is not None:
        conditions.append(col(Lead.score) >= min_score)
    if q and (found := search_condition(col(Lead.search_text), q, dialect)) is not None:
        conditions.append(found)
    return conditions


def list_leads(
    *, session: Session, order: str = "newest", limit: int = 50, offset: int = 0, **filters: Any
) -> tuple[list[Lead], int]:
    """One page of leads with the total that matches the filters (see ``lead_conditions``).

    ``order`` is "newest" (the latest first), "review" (by review deadline, overdue first: the queue),
    "relevance" (the best match of the search ``q`` first, then the newest), or a column of ``SORTABLE``,
    descending with a leading "-" ("-score"); empty values sort last either way.
    """
    dialect = session.get_bind().dialect.name
    conditions = lead_conditions(dialect=dialect, **filters)
    total = session.scalar(select(func.count()).select_from(Lead).where(*conditions)) or 0
    query = (
        select(Lead)
        .where(*conditions)
        .order_by(*lead_order(order, q=filters.get("q"), dialect=dialect))
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    )
    return list(session.scalars(query)), total


def iter_leads(*, session: Session, order: str = "newest", chunk: int = 1000, **filters: Any) -> Iterator[Lead]:
    """Every lead that matches the filters, in order, read a chunk at a time (for exports)."""
    dialect = session.get_bind().dialect.name
    order_by = lead_order(order, q=filters.get("q"), dialect=dialect)
    query = select(Lead).where(*lead_conditions(dialect=dialect, **filters)).order_by(*order_by)
    yield from session.scalars(query.execution_options(yield_per=chunk))


SORTABLE: dict[str, Any] = {
    "received": col(Lead.received_at), "status": col(Lead.status), "source": col(Lead.source),
    "company": col(Lead.company), "contact": col(Lead.contact_name), "email": col(Lead.email),
    "score": col(Lead.score), "city": col(Lead.city),
}  # fmt: skip
ORDERS: dict[str, tuple[Any, ...]] = {
    "newest": (col(Lead.received_at).desc(), col(Lead.id)),
    "review": (col(Lead.review_due_at).is_(None), col(Lead.review_due_at), col(Lead.received_at), col(Lead.id)),
}
ORDER_PATTERN = "^(newest|review|relevance|-?(" + "|".join(SORTABLE) + "))$"


def lead_order(order: str, *, q: str | None = None, dialect: str = "sqlite") -> tuple[Any, ...]:
    """The ORDER BY of an ``order`` name (unknown names list the newest first)."""
    if order == "relevance":
        return (*relevance(col(Lead.search_text), q or "", dialect), *ORDERS["newest"])
    if order in ORDERS:
        return ORDERS[order]
    column = SORTABLE.get(order.removeprefix("-"))
    if column is None:
        return ORDERS["newest"]
    direction = column.desc() if order.startswith("-") else column.asc()
    return (column.is_(None), direction, *ORDERS["newest"])


def count_by_status(*, session: Session) -> dict[str, int]:
    """How many leads are in each status."""
    rows = session.execute(select(col(Lead.status), func.count()).group_by(Lead.status))
    return {status: count for status, count in rows}


def list_sources(*, session: Session) -> list[str]:
    """Every source leads came from, sorted."""
    return sorted(session.scalars(select(col(Lead.source)).distinct()))


def get_lead(*, session: Session, lead_id: str) -> Lead:
    """The lead, or NotFoundError."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundError(f"lead {lead_id} not found")
    return lead


def lock_lead(*, session: Session, lead_id: str) -> Lead:
    """The lead, freshly read and row-locked until the transaction ends (PostgreSQL; SQLite holds the write lock)."""
    lead = session.get(Lead, lead_id, with_for_update=True, populate_existing=True)
    if lead is None:
        raise NotFoundError(f"lead {lead_id} not found")
    return lead


def lock_leads(*, session: Session, lead_ids: list[str]) -> dict[str, Lead]:
    """The leads, freshly read and row-locked until the transaction ends, in one query."""
    query = select(Lead).where(col(Lead.id).in_(lead_ids)).with_for_update().execution_options(populate_existing=True)
    return {lead.id: lead for lead in session.scalars(query)}


def held_lead(*, session: Session, lead_id: str) -> Lead:
    """A lead this transaction already read with ``lock_leads`` (no query), or NotFoundError."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundError(f"lead {lead_id} not found")
    return lead


def list_events(*, session: Session, lead_id: str) -> list[LeadEvent]:
    """The lead's audit trail, oldest first."""
    query = select(LeadEvent).where(col(LeadEvent.lead_id) == lead_id).order_by(col(LeadEvent.at), col(LeadEvent.id))
    return list(session.scalars(query))


def is_overdue(lead: Lead) -> bool:
    """Whether the lead has waited in review past its deadline."""
    due = lead.review_due_at
    return lead.status == LeadStatus.NEEDS_REVIEW and due is not None and due < utcnow()


def lead_as_dict(lead: Lead, events: list[LeadEvent] | None = None) -> dict[str, Any]:
    """The lead in the shape of the API (and the UI)."""
    data = lead.model_dump(mode="json")
    data["overdue"] = is_overdue(lead)
    if events is not None:
        data["events"] = [event.model_dump(mode="json", exclude={"lead_id"}) for event in events]
    return data


def bump_lead(session: Session, lead_id: str, version: int, values: dict[str, Any]) -> Lead:
    """Write values only if nobody changed the lead since ``version`` was read."""
    result = session.execute(
        update(Lead)
        .where(col(Lead.id) == lead_id, col(Lead.version) == version)
        .values(version=Lead.version + 1, updated_at=utcnow(), **values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        current = get_lead(session=session, lead_id=lead_id)
        raise ConflictError(
            f"lead {lead_id} was changed by someone else (version {current.version}, you had {version}); reload it"
        )
    lead = get_lead(session=session, lead_id=lead_id)
    session.refresh(lead)
    if not values.keys().isdisjoint(SEARCHED):
        lead.search_text = search_text(lead)  # written with the caller's commit
    return lead


def _corrected_value(name: str, raw: Any, *, region: str) -> str | None:
    """An operator's value in the form the contract promises (E.164, ISO country…), or ValueError saying why not."""
    value = (str(raw).strip() or None) if raw is not None else None
    if value is None:
        return None
    if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("contains a NUL character or invalid Unicode")
    normalizer = NORMALIZERS.get(name)
    normalized = normalizer(value, region) if normalizer else value
    if normalized is None:
        raise ValueError(f"{value[:80]!r} is not a valid {FIELD_WORDS.get(name, name.replace('_', ' '))}")
    limit = getattr(Lead.__table__.c[name].type, "length", None)  # type: ignore[attr-defined]
    if limit is not None and len(normalized) > limit:
        raise ValueError(f"longer than {limit} characters")
    return normalized


def _corrected_values(changes: dict[str, Any], *, lead: Lead, region: str) -> dict[str, str | None]:
    """Every corrected value in stored form, or FieldErrors naming each field that cannot be used and why."""
    errors: dict[str, str] = {}
    country = None
    if "country" in changes:
        try:
            country = _corrected_value("country", changes["country"], region=region)
        except ValueError as exc:
            errors["country"] = str(exc)
    region = country or lead.country or region
    values: dict[str, str | None] = {}
    for name, raw in changes.items():
        try:
            values[name] = _corrected_value(name, raw, region=region)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return values


NORMALIZERS: dict[str, Callable[[str, str], str | None]] = {
    "email": lambda value, _region: normalize_email(value),
    "phone": normalize_phone,
    "website": lambda value, _region: normalize_website(value),
    "country": lambda value, _region: normalize_country(value),
}


def rescore_lead(lead: Lead, settings: Settings) -> Verdict:
    """Score the lead again from its current values under the current rules (not committed)."""
    rules = rules_source(settings.rules_file).current()
    verdict = score_stored_lead(lead, rules, excluded_domains=settings.own_domains)
    apply_verdict(lead, verdict)
    return verdict


def correct_lead(
    *, session: Session, settings: Settings, lead_id: str, version: int, changes: dict[str, Any], actor: str
) -> Lead:
    """Apply an operator's corrections; each corrected field is marked "operator" and survives reparse.

    Phone numbers are read with the lead's country, else the default country; values that cannot be brought
    into the contract's form raise FieldErrors, naming each. The score follows the corrected values.
    """
    unknown = set(changes) - set(CANONICAL_FIELDS)
    if unknown:
        raise UnprocessableError(f"fields that cannot be edited: {', '.join(sorted(unknown))}")
    lead = get_lead(session=session, lead_id=lead_id)
    corrected = _corrected_values(changes, lead=lead, region=settings.default_country)
    values: dict[str, Any] = {}
    diff: dict[str, Any] = {}
    meta = dict(lead.fields)
    for name, value in corrected.items():
        if value != getattr(lead, name):
            diff[name] = {"old": getattr(lead, name), "new": value}
            values[name] = value
        meta[name] = {"provenance": "operator", "confidence": 1.0}
    lead = bump_lead(session, lead_id, version, {**values, "fields": meta})
    if diff:
        verdict = rescore_lead(lead, settings)
        if lead.status == LeadStatus.NEEDS_REVIEW:
            lead.reasons = refreshed_reasons(
                lead.reasons, corrected=set(diff), values=lead_values(lead), verdict=verdict, settings=settings
            )
        session.add(lead)
        record_event(session=session, lead_id=lead_id, action="corrected", actor=actor, changes=diff, score=lead.score)
    session.commit()
    return lead


def enqueue_sync(session: Session, settings: Settings, lead_id: str) -> None:
    """Queue the lead's sync in the caller's transaction."""
    # The same key on every attempt and resync: the Company Explorer creates the company only once.
    enqueue_job(
        session=session,
        lead_id=lead_id,
        kind=SYNC_JOB,
        idempotency_key=f"lead-{lead_id}",
        max_attempts=sync_policy(settings).max_attempts,
    )


def restart_sync(session: Session, settings: Settings, lead_id: str) -> None:
    """Queue the lead's sync to run now from its first step (a waiting retry too): a person asked for it."""
    enqueue_sync(session, settings, lead_id)
    session.execute(
        update(Job)
        .where(col(Job.lead_id) == lead_id, col(Job.kind) == SYNC_JOB, col(Job.status) == JobStatus.QUEUED)
        .values(run_after=utcnow(), payload={})
    )


def resync_lead(*, session: Session, settings: Settings, lead_id: str, actor: str) -> Lead:
    """Queue the lead's sync again (after dead, or to push corrections)."""
    if not settings.sync_enabled:
        raise ConflictError("sync is disabled: set LEAD_ENGINE_COMPANY_EXPLORER_URL")
    lead = get_lead(session=session, lead_id=lead_id)
    if lead.status not in RESYNCABLE:
        raise ConflictError(f"lead {lead_id} is {lead.status}; approve it first, then it syncs")
    # A lead being synced right now keeps its status; its follow-up sync runs after this one.
    status = lead.status if lead.status == "syncing" else "ready"
    lead = bump_lead(session, lead_id, lead.version, {"status": status, "last_error": None})
    restart_sync(session, settings, lead_id)
    record_event(session=session, lead_id=lead_id, action="resync_requested", actor=actor)
    session.commit()
    return lead


def reparse_lead(*, session: Session, lead_id: str, actor: str) -> Lead:
    """Queue the lead's stored raw e-mail to be parsed again; operator corrections are kept."""
    lead = get_lead(session=session, lead_id=lead_id)
    enqueue_job(
        session=session,
        lead_id=lead_id,
        kind=PROCESS_JOB,
        idempotency_key=process_job_key(lead_id),
        max_attempts=PROCESS_MAX_ATTEMPTS,
    )
    record_event(session=session, lead_id=lead_id, action="reparse_requested", actor=actor)
    session.commit()
    return lead


def get_raw_message(*, session: Session, lead_id: str) -> RawMessage:
    """The stored inbound request behind a lead, or NotFoundError."""
    raw = session.get(RawMessage, get_lead(session=session, lead_id=lead_id).raw_message_id)
    if raw is None:
        raise NotFoundError(f"the original message of lead {lead_id} is missing")
    return raw
