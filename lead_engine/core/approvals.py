"""A person's verdict on a lead: approve, reject, restore — one at a time or in bulk — and how the queue stands."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from lead_engine.core.errors import ConflictError, LeadEngineError, UnprocessableError
from lead_engine.core.leads import bump_lead, enqueue_sync, get_lead, record_event, reparse_lead, resync_lead
from lead_engine.core.models import Lead, LeadEvent, utcnow
from lead_engine.core.qualification.routing import (
    AUTO_APPROVED,
    CANNOT_SYNC,
    approved_automatically_today,
    can_sync,
    day_start,
    review_deadline,
)
from lead_engine.core.qualification.scoring import lead_values
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import LeadStatus


class BulkAction(StrEnum):
    """What a bulk request does to each lead."""

    APPROVE = "approve"
    REJECT = "reject"
    RESTORE = "restore"
    RESYNC = "resync"
    REPARSE = "reparse"


def _said(actor: str, verb: str, reason: str) -> list[str]:
    return [f"{verb} by {actor}" + (f": {reason}" if reason else "")]


def approve_lead(
    *, session: Session, settings: Settings, lead_id: str, version: int, actor: str, reason: str = ""
) -> Lead:
    """Mark a lead ready (approved by a person) and queue its sync; refused when it could never be synced."""
    lead = get_lead(session=session, lead_id=lead_id)
    if lead.status in (LeadStatus.SYNCING, LeadStatus.SYNCED):
        raise ConflictError(f"lead {lead_id} is already {lead.status}")
    if not can_sync(lead_values(lead), excluded=settings.own_domains):
        raise UnprocessableError(f"cannot approve: {CANNOT_SYNC}; add the company or its website first")
    values = {
        "status": LeadStatus.READY,
        "qualified": True,
        "review_due_at": None,
        "reasons": _said(actor, "approved", reason),
    }
    lead = bump_lead(session, lead_id, version, values)
    record_event(session=session, lead_id=lead_id, action="approved", actor=actor, reason=reason)
    if settings.sync_enabled:
        enqueue_sync(session, settings, lead_id)
    session.commit()
    return lead


def reject_lead(*, session: Session, lead_id: str, version: int, actor: str, reason: str = "") -> Lead:
    """Mark a lead rejected: it is never synced, stays visible and can be restored."""
    values = {
        "status": LeadStatus.REJECTED,
        "qualified": False,
        "review_due_at": None,
        "reasons": _said(actor, "rejected", reason),
    }
    lead = bump_lead(session, lead_id, version, values)
    record_event(session=session, lead_id=lead_id, action="rejected", actor=actor, reason=reason)
    session.commit()
    return lead


def restore_lead(
    *, session: Session, settings: Settings, lead_id: str, version: int, actor: str, reason: str = ""
) -> Lead:
    """Bring a rejected lead (junk or a person's verdict) back into review; a reparse no longer rejects it."""
    lead = get_lead(session=session, lead_id=lead_id)
    if lead.status != LeadStatus.REJECTED:
        raise ConflictError(f"lead {lead_id} is {lead.status}, not rejected: nothing to restore")
    earlier = "; ".join(lead.reasons)
    reasons = _said(actor, "restored", reason) + ([f"it was {earlier}"] if earlier else [])
    values = {"status": LeadStatus.NEEDS_REVIEW, "review_due_at": review_deadline(settings), "reasons": reasons}
    lead = bump_lead(session, lead_id, version, values)
    record_event(session=session, lead_id=lead_id, action="restored", actor=actor, reason=reason)
    session.commit()
    return lead


def act_on_lead(
    *,
    session: Session,
    settings: Settings,
    lead_id: str,
    action: BulkAction,
    actor: str,
    reason: str = "",
    version: int | None = None,
) -> Lead:
    """One action on one lead, checked against the version the caller read (its current one without)."""
    if version is None:
        version = get_lead(session=session, lead_id=lead_id).version
    if action == BulkAction.APPROVE:
        return approve_lead(
            session=session, settings=settings, lead_id=lead_id, version=version, actor=actor, reason=reason
        )
    if action == BulkAction.REJECT:
        return reject_lead(session=session, lead_id=lead_id, version=version, actor=actor, reason=reason)
    if action == BulkAction.RESTORE:
        return restore_lead(
            session=session, settings=settings, lead_id=lead_id, version=version, actor=actor, reason=reason
        )
    if action == BulkAction.REPARSE:
        return reparse_lead(session=session, lead_id=lead_id, actor=actor)
    return resync_lead(session=session, settings=settings, lead_id=lead_id, actor=actor)


def act_on_leads(
    *, session: Session, settings: Settings, lead_ids: list[str], action: BulkAction, actor: str, reason: str = ""
) -> dict[str, str]:
    """Apply one action to several leads at their current version, each in its own transaction.

    Returns the reason per lead that was refused; the others are done.
    """
    failed: dict[str, str] = {}
    for lead_id in dict.fromkeys(lead_ids):
        try:
            act_on_lead(session=session, settings=settings, lead_id=lead_id, action=action, actor=actor, reason=reason)
        except LeadEngineError as exc:
            session.rollback()
            failed[lead_id] = str(exc)
    return failed


def approval_stats(*, session: Session, settings: Settings) -> dict[str, Any]:
    """The review queue (waiting, overdue) and today's approvals and rejections, by whom."""
    now = utcnow()
    waiting = col(Lead.status) == LeadStatus.NEEDS_REVIEW
    pending = session.scalar(select(func.count()).where(waiting)) or 0
    overdue = session.scalar(select(func.count()).where(waiting, col(Lead.review_due_at) < now)) or 0
    since = day_start(settings, now)
    actions = ("approved", "rejected", "restored", AUTO_APPROVED)
    rows = session.execute(
        select(col(LeadEvent.action), col(LeadEvent.actor), func.count())
        .where(col(LeadEvent.action).in_(actions), col(LeadEvent.at) >= since)
        .group_by(col(LeadEvent.action), col(LeadEvent.actor))
    )
    today: dict[str, int] = dict.fromkeys(actions, 0)
    junk_today = 0
    for action, actor, count in rows:
        today[action] += count
        if action == "rejected" and actor == "system":
            junk_today += count
    auto_today = approved_automatically_today(session=session, settings=settings)
    limit = settings.auto_approve_daily_limit
    return {
        "pending": pending,
        "overdue": overdue,
        "expiry_hours": settings.approval_expiry_hours,
        "auto_approved_today": auto_today,
        "daily_limit": limit,
        "remaining_today": max(0, limit - auto_today),
        "approved_today": today["approved"],
        "rejected_today": today["rejected"] - junk_today,
        "junk_today": junk_today,
        "restored_today": today["restored"],
    }
