"""Source heartbeats: a source that usually delivers and has been quiet for much longer than usual raises an alert.

"Usual" is learned from the source's own last 30 days, counted in business hours (Monday to Friday, 08:00 to
18:00 in the configured time zone), so a quiet weekend or night alarms nobody.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from lead_engine.core.alerts import clear_alert, list_active_alerts, raise_alert
from lead_engine.core.models import Lead, LeadEvent
from lead_engine.core.settings import Settings

HISTORY = timedelta(days=30)
OPENS, CLOSES = time(8), time(18)
MIN_GAPS = 5  # fewer leads than this in the history: the source has no habit to break yet
GAP_FACTOR = 2.0  # quiet for twice its longest usual gap (95th percentile)
KEY_PREFIX = "quiet:"


@dataclass(frozen=True)
class QuietSource:
    """A source that has been quiet for longer than it usually is."""

    source: str
    last_at: datetime
    quiet_seconds: float
    limit_seconds: float


def business_seconds(start: datetime, end: datetime, zone: ZoneInfo) -> float:
    """Seconds between two moments that fall on weekdays between 08:00 and 18:00 local time."""
    if end <= start:
        return 0.0
    start, end = start.astimezone(zone), end.astimezone(zone)
    total, day = 0.0, start.date()
    while day <= end.date():
        if day.weekday() < 5:
            opens = datetime.combine(day, OPENS, zone)
            closes = datetime.combine(day, CLOSES, zone)
            overlap = (min(end, closes) - max(start, opens)).total_seconds()
            total += max(overlap, 0.0)
        day += timedelta(days=1)
    return total


def find_quiet_sources(*, session: Session, settings: Settings, now: datetime) -> list[QuietSource]:
    """Sources that delivered regularly in the last 30 days and have been quiet for much longer than usual."""
    zone = ZoneInfo(settings.business_timezone)
    query = (
        select(col(Lead.source), col(LeadEvent.at))
        .join(Lead, col(Lead.id) == LeadEvent.lead_id)
        .where(col(LeadEvent.action) == "received", col(LeadEvent.at) >= now - HISTORY)
        .order_by(col(Lead.source), col(LeadEvent.at))
    )
    arrivals: dict[str, list[datetime]] = {}
    for source, at in session.execute(query):
        arrivals.setdefault(source, []).append(at)
    quiet = []
    for source, times in arrivals.items():
        gaps = [business_seconds(a, b, zone) for a, b in pairwise(times)]
        if len(gaps) < MIN_GAPS:
            continue
        usual = statistics.quantiles(gaps, n=20, method="inclusive")[-1]
        limit = max(settings.quiet_alert_floor_hours * 3600, GAP_FACTOR * usual)
        silence = business_seconds(times[-1], now, zone)
        if silence > limit:
            quiet.append(QuietSource(source, times[-1], silence, limit))
    return quiet


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} business hours"


def check_heartbeats(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """Raise an alert for each source gone quiet and clear those that delivered again; returns newly quiet ones."""
    with Session(engine) as session:
        quiet = find_quiet_sources(session=session, settings=settings, now=now)
        up = {alert.key for alert in list_active_alerts(session=session, prefix=KEY_PREFIX)}
    raised = []
    for found in quiet:
        message = (
            f"No lead from source '{found.source}' for {_hours(found.quiet_seconds)} (last at "
            f"{found.last_at:%Y-%m-%d %H:%M} UTC); it usually delivers within {_hours(found.limit_seconds)}. "
            "Check the form, the mailbox and n8n."
        )
        if raise_alert(engine, f"{KEY_PREFIX}{found.source}", message):
            raised.append(found.source)
    for key in up - {f"{KEY_PREFIX}{found.source}" for found in quiet}:
        clear_alert(engine, key)
    return raised
