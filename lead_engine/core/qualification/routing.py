"""Where a judged lead goes: rejected as junk, approved automatically within the daily limit, or to a person."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlmodel import Session, col

from lead_engine.core.company_matching import lead_domain
from lead_engine.core.models import LeadEvent, utcnow
from lead_engine.core.qualification.scoring import Verdict
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import LeadStatus

AUTO_APPROVED = "auto_approved"
AUTO_APPROVAL_LOCK = 748216
# Fields a person would check first; the surest reading of them is the parse's confidence.
KEY_FIELDS = ("company", "contact_name", "email", "phone")


@dataclass
class Route:
    """The status a lead goes to and why, in words."""

    status: LeadStatus
    reasons: list[str] = field(default_factory=list)

    @property
    def auto_approved(self) -> bool:
        """Whether the lead goes on to sync without a person."""
        return self.status == LeadStatus.READY


def parse_confidence(fields: dict[str, dict[str, Any]]) -> float:
    """The least sure of the key fields the lead has (1.0 for what an operator set; 0 with none)."""
    sure = [float(fields[name].get("confidence", 0)) for name in KEY_FIELDS if name in fields]
    return min(sure, default=0.0)


def can_sync(values: dict[str, str | None], *, excluded: list[str]) -> bool:
    """Whether the Company Explorer could take the lead: it needs a company name or a company domain."""
    domain = lead_domain(website=values.get("website"), email=values.get("email"), excluded=excluded)
    return bool(values.get("company") or domain)


CANNOT_SYNC = "neither a company name nor a company domain: the Company Explorer needs one of them"


def day_start(settings: Settings, now: datetime | None = None) -> datetime:
    """Midnight of today in the business time zone, as an aware UTC-comparable datetime."""
    zone = ZoneInfo(settings.business_timezone)
    local = (now or utcnow()).astimezone(zone)
    return datetime.combine(local.date(), time(), tzinfo=zone)


def approved_automatically_today(
    *, session: Session, settings: Settings, claim: bool = False, up_to: int | None = None
) -> int:
    """How many leads were approved without a person since midnight (business time zone), counted up to
    ``up_to`` at most (a limit check needs no more, and reads no more rows than that).

    ``claim`` is for a transaction about to approve one more: on PostgreSQL it takes a transaction lock first,
    so workers in parallel count one after another and the daily limit holds exactly.
    """
    if claim and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUTO_APPROVAL_LOCK})
    since = day_start(settings)
    approved = (
        # One event per approval (a lead parsed again before its sync counts twice: the limit errs on the safe side).
        select(col(LeadEvent.id))
        .where(col(LeadEvent.action) == AUTO_APPROVED, col(LeadEvent.at) >= since)
        .limit(up_to)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(approved)) or 0


def route_lead(
    verdict: Verdict,
    *,
    values: dict[str, str | None],
    confidence: float,
    junk: str | None,
    doubts: list[str],
    settings: Settings,
    approved_today: Callable[[], int],
) -> Route:
    """Junk → rejected; doubts, a low score or confidence, or the daily limit → review; else ready.

    ``approved_today`` is asked only for a lead that passed every other gate.
    """
    if junk:
        return Route(LeadStatus.REJECTED, [f"rejected as junk: {junk}"])
    reasons = list(doubts)
    if not (values.get("email") or values.get("phone")):
        reasons.append("no e-mail address or phone number to reach the lead")
    if not can_sync(values, excluded=settings.own_domains):
        reasons.append(CANNOT_SYNC)
    if not verdict.qualified:
        reasons.append(f"score {verdict.score} ({verdict.grade}) is below the qualifying score of {verdict.threshold}")
    if reasons:
        return Route(LeadStatus.NEEDS_REVIEW, list(dict.fromkeys(reasons)))
    if confidence < settings.auto_approve_confidence:
        bar = settings.auto_approve_confidence
        doubt = f"fields read with {confidence:.0%} certainty; approval without review needs {bar:.0%}"
        return Route(LeadStatus.NEEDS_REVIEW, [doubt])
    limit = settings.auto_approve_daily_limit
    if limit == 0:
        return Route(LeadStatus.NEEDS_REVIEW, ["every lead is approved by a person (daily auto-approval limit is 0)"])
    if approved_today() >= limit:
        return Route(LeadStatus.NEEDS_REVIEW, [f"daily auto-approval limit of {limit} reached"])
    certainty = f"fields read with {confidence:.0%} certainty"
    return Route(LeadStatus.READY, [f"approved automatically: score {verdict.score} ({verdict.grade}), {certainty}"])


def review_deadline(settings: Settings, now: datetime | None = None) -> datetime:
    """When a lead entering review now becomes overdue."""
    return (now or utcnow()) + timedelta(hours=settings.approval_expiry_hours)
