"""Where a judged lead goes: rejected as junk, approved automatically within the daily limit, or to a person."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from lead_engine.core.company_matching import lead_domain
from lead_engine.core.lead_fields import FIELD_WORDS, NO_COMPANY_OR_EMAIL, NO_CONTACT
from lead_engine.core.models import ApprovalDay, utcnow
from lead_engine.core.qualification.scoring import Verdict
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import LeadStatus

AUTO_APPROVED = "auto_approved"
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
SCORE_PREFIX = "score "


def day_start(settings: Settings, now: datetime | None = None) -> datetime:
    """Midnight of today in the business time zone, as an aware UTC-comparable datetime."""
    return datetime.combine(business_day(settings, now), time(), tzinfo=ZoneInfo(settings.business_timezone))


def business_day(settings: Settings, now: datetime | None = None) -> date:
    """Today in the business time zone."""
    return (now or utcnow()).astimezone(ZoneInfo(settings.business_timezone)).date()


def approved_automatically_today(*, session: Session, settings: Settings) -> int:
    """How many leads were approved without a person since midnight (business time zone)."""
    query = select(col(ApprovalDay.auto_approved)).where(col(ApprovalDay.day) == business_day(settings))
    return session.scalar(query) or 0


def _today_row(*, session: Session, settings: Settings, lock: bool) -> ApprovalDay | None:
    today = business_day(settings)
    query = select(ApprovalDay).where(col(ApprovalDay.day) == today)
    if not lock:
        return session.scalars(query).first()
    query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(ApprovalDay(day=today, auto_approved=0))
        except IntegrityError:
            pass  # another worker added today's row first
        row = session.scalars(query.execution_options(populate_existing=True)).one()
    return row


def approval_budget(*, session: Session, settings: Settings, lock: bool) -> int:
    """How many more leads may be approved without a person today.

    With ``lock`` the day's row is locked until the transaction ends (PostgreSQL; SQLite holds its write lock
    anyway), so workers in parallel take turns and the limit holds exactly.
    """
    row = _today_row(session=session, settings=settings, lock=lock)
    return max(0, settings.auto_approve_daily_limit - (row.auto_approved if row is not None else 0))


def use_auto_approvals(*, session: Session, settings: Settings, count: int) -> None:
    """Count ``count`` more automatic approvals today (after ``approval_budget`` with ``lock``)."""
    row = _today_row(session=session, settings=settings, lock=True)
    assert row is not None
    row.auto_approved += count
    session.add(row)


def claim_auto_approval(*, session: Session, settings: Settings) -> bool:
    """Count one more automatic approval today unless the daily limit is reached; False when it is."""
    if approval_budget(session=session, settings=settings, lock=True) <= 0:
        return False
    use_auto_approvals(session=session, settings=settings, count=1)
    return True


def route_lead(
    verdict: Verdict,
    *,
    values: dict[str, str | None],
    confidence: float,
    junk: str | None,
    doubts: list[str],
    settings: Settings,
    claim_approval: Callable[[], bool],
) -> Route:
    """Junk → rejected; doubts, a low score or confidence, or the daily limit → review; else ready.

    ``claim_approval`` counts one more automatic approval against the daily limit (False: it is reached); it is
    asked only for a lead that passed every other gate.
    """
    if junk:
        return Route(LeadStatus.REJECTED, [f"rejected as junk: {junk}"])
    reasons = [*doubts, *value_checks(verdict, values=values, settings=settings)]
    if reasons:
        return Route(LeadStatus.NEEDS_REVIEW, list(dict.fromkeys(reasons)))
    if confidence < settings.auto_approve_confidence:
        bar = settings.auto_approve_confidence
        doubt = f"fields read with {confidence:.0%} certainty; approval without review needs {bar:.0%}"
        return Route(LeadStatus.NEEDS_REVIEW, [doubt])
    limit = settings.auto_approve_daily_limit
    if limit == 0:
        return Route(LeadStatus.NEEDS_REVIEW, ["every lead is approved by a person (daily auto-approval limit is 0)"])
    if not claim_approval():
        return Route(LeadStatus.NEEDS_REVIEW, [f"daily auto-approval limit of {limit} reached"])
    certainty = f"fields read with {confidence:.0%} certainty"
    return Route(LeadStatus.READY, [f"approved automatically: score {verdict.score} ({verdict.grade}), {certainty}"])


def value_checks(verdict: Verdict, *, values: dict[str, str | None], settings: Settings) -> list[str]:
    """The review reasons the lead's values and score give: no way to reach it, nothing to sync by, a low score."""
    reasons = []
    if not (values.get("email") or values.get("phone")):
        reasons.append(NO_CONTACT)
    if not can_sync(values, excluded=settings.own_domains):
        reasons.append(CANNOT_SYNC)
    if not verdict.qualified:
        reasons.append(
            f"{SCORE_PREFIX}{verdict.score} ({verdict.grade}) is below the qualifying score of {verdict.threshold}"
        )
    return reasons


def refreshed_reasons(
    reasons: list[str], *, corrected: set[str], values: dict[str, str | None], verdict: Verdict, settings: Settings
) -> list[str]:
    """A lead's review reasons after a person corrected fields: doubts about a corrected field and checks on
    values that no longer hold are dropped, the checks that still hold stay (with the new score)."""
    about = tuple(f"the {FIELD_WORDS[name]} " for name in corrected if name in FIELD_WORDS)
    checks = {NO_CONTACT, NO_COMPANY_OR_EMAIL, CANNOT_SYNC}
    kept = [
        reason for reason in reasons
        if reason not in checks and not reason.startswith(SCORE_PREFIX) and not any(words in reason for words in about)
    ]  # fmt: skip
    return list(dict.fromkeys([*kept, *value_checks(verdict, values=values, settings=settings)]))


def review_deadline(settings: Settings, now: datetime | None = None) -> datetime:
    """When a lead entering review now becomes overdue."""
    return (now or utcnow()) + timedelta(hours=settings.approval_expiry_hours)
