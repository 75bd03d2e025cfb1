"""Dashboard figures: leads per day by source, the status funnel, sync success and speed, top errors."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from lead_engine.core.leads import count_by_status
from lead_engine.core.models import Lead, LeadEvent, utcnow
from lead_engine.core.statuses import ACCEPTED, PROCESSED

RECEIVED_ACTION, SYNCED_ACTION = "received", "synced"
ERROR_LENGTH = 160


@dataclass(frozen=True)
class DailyCount:
    """How many leads arrived from one source on one day."""

    day: date
    source: str
    count: int


@dataclass(frozen=True)
class SyncSummary:
    """How syncing to the Company Explorer went: outcomes, success rate and median time to synced."""

    synced: int
    dead: int
    success_rate: float | None
    median_seconds: float | None


@dataclass
class Dashboard:
    """Everything the dashboard page shows."""

    since: datetime
    per_day: list[DailyCount] = field(default_factory=list)
    funnel: list[tuple[str, int]] = field(default_factory=list)
    sync: SyncSummary = SyncSummary(0, 0, None, None)
    top_errors: list[tuple[str, int]] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    by_channel: list[tuple[str, int]] = field(default_factory=list)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def count_leads_per_day(*, session: Session, since: datetime) -> list[DailyCount]:
    """Leads received per day (UTC) and source since a moment, oldest day first."""
    day = func.date(Lead.received_at)
    query = (
        select(day, col(Lead.source), func.count())
        .where(col(Lead.received_at) >= since)
        .group_by(day, Lead.source)
        .order_by(day, Lead.source)
    )
    return [DailyCount(_as_date(when), source, count) for when, source, count in session.execute(query)]


def build_funnel(by_status: dict[str, int]) -> list[tuple[str, int]]:
    """The status funnel from the counts per status: received → processed → accepted → synced."""
    return [
        ("received", sum(by_status.values())),
        ("processed", sum(by_status.get(status, 0) for status in PROCESSED)),
        ("accepted", sum(by_status.get(status, 0) for status in ACCEPTED)),
        ("synced", by_status.get("synced", 0)),
    ]


def summarise_sync(*, session: Session, since: datetime, by_status: dict[str, int]) -> SyncSummary:
    """Success rate over finished syncs (synced vs dead) and the median time from received to first synced."""
    synced, dead = by_status.get("synced", 0), by_status.get("dead", 0)
    rate = synced / (synced + dead) if synced + dead else None
    received, done = aliased(LeadEvent), aliased(LeadEvent)
    query = (
        select(func.min(received.at), func.min(done.at))
        .join(received, col(received.lead_id) == done.lead_id)
        .where(col(done.action) == SYNCED_ACTION, col(done.at) >= since, col(received.action) == RECEIVED_ACTION)
        .group_by(done.lead_id)
    )
    durations = [(end - start).total_seconds() for start, end in session.execute(query) if start and end]
    median = statistics.median(durations) if durations else None
    return SyncSummary(synced=synced, dead=dead, success_rate=rate, median_seconds=median)


def count_by_channel(*, session: Session, since: datetime) -> list[tuple[str, int]]:
    """Leads received since a moment per path that delivered them (API, IMAP poller, reconciliation), most first."""
    query = (
        select(col(LeadEvent.actor), func.count())
        .where(col(LeadEvent.action) == RECEIVED_ACTION, col(LeadEvent.at) >= since)
        .group_by(LeadEvent.actor)
        .order_by(func.count().desc(), LeadEvent.actor)
    )
    return [(str(actor), count) for actor, count in session.execute(query)]


def list_top_errors(*, session: Session, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent last errors of leads, most frequent first."""
    reason = func.substr(Lead.last_error, 1, ERROR_LENGTH)
    query = (
        select(reason, func.count())
        .where(col(Lead.last_error).is_not(None))
        .group_by(reason)
        .order_by(func.count().desc(), reason)
        .limit(limit)
    )
    return [(str(text), count) for text, count in session.execute(query)]


def build_dashboard(*, session: Session, days: int = 30) -> Dashboard:
    """All dashboard figures for the last ``days`` days (counts per status cover every lead)."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=max(days, 1) - 1)
    by_status = count_by_status(session=session)
    return Dashboard(
        since=since,
        per_day=count_leads_per_day(session=session, since=since),
        funnel=build_funnel(by_status),
        sync=summarise_sync(session=session, since=since, by_status=by_status),
        top_errors=list_top_errors(session=session),
        by_status=by_status,
        by_channel=count_by_channel(session=session, since=since),
    )


def format_duration(seconds: float | None) -> str:
    """A short human duration: "42 s", "3.5 min", "2.1 h", "1.5 d"; a dash when unknown."""
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
