"""API routes for a person's verdict: approve, reject, restore, bulk actions and the approval queue's figures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lead_engine.api_deps import Actor, LeadId, ListedId, Name, ReadDep, SettingsDep, Text, Version, WriteDep
from lead_engine.core.approvals import BulkAction, act_on_lead, act_on_leads, approval_stats
from lead_engine.core.leads import lead_as_dict

router = APIRouter()


class ActionBody(BaseModel):
    """Who acts and why; ``version`` guards against overwriting a change made since it was read."""

    version: Version | None = None
    reason: Text = ""
    # The person behind the API client (an n8n approval step, say); recorded as "api:<by>".
    by: Name = ""


class BulkBody(BaseModel):
    """One action for many leads."""

    ids: list[ListedId] = Field(min_length=1, max_length=500)
    action: BulkAction
    reason: Text = ""
    by: Name = ""


def _who(actor: str, by: str) -> str:
    return f"{actor}:{by.strip()}" if by.strip() else actor


def _act(session: WriteDep, cfg: SettingsDep, lead_id: str, action: BulkAction, actor: str, body: ActionBody) -> Any:
    lead = act_on_lead(
        session=session, settings=cfg, lead_id=lead_id, action=action, actor=_who(actor, body.by),
        reason=body.reason, version=body.version,
    )  # fmt: skip
    return lead_as_dict(lead)


@router.post("/api/leads/{lead_id}/approve")
def approve(lead_id: LeadId, body: ActionBody, actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
    """Approve the lead and queue its sync; 422 when it has neither a company nor a company domain."""
    return _act(session, cfg, lead_id, BulkAction.APPROVE, actor, body)


@router.post("/api/leads/{lead_id}/reject")
def reject(lead_id: LeadId, body: ActionBody, actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
    """Reject the lead; it is never synced, stays visible, and can be restored."""
    return _act(session, cfg, lead_id, BulkAction.REJECT, actor, body)


@router.post("/api/leads/{lead_id}/restore")
def restore(lead_id: LeadId, body: ActionBody, actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
    """Bring a rejected lead back into review; 409 when it is not rejected."""
    return _act(session, cfg, lead_id, BulkAction.RESTORE, actor, body)


@router.post("/api/leads/bulk")
def bulk(body: BulkBody, actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
    """Approve, reject, restore or resync several leads; each refused lead is listed with its reason."""
    failed = act_on_leads(
        session=session, settings=cfg, lead_ids=body.ids, action=body.action, actor=_who(actor, body.by),
        reason=body.reason,
    )  # fmt: skip
    done = [lead_id for lead_id in dict.fromkeys(body.ids) if lead_id not in failed]
    return {"action": body.action, "done": done, "failed": failed}


@router.get("/api/approvals/stats")
def stats(_actor: Actor, session: ReadDep, cfg: SettingsDep) -> dict[str, Any]:
    """The review queue (waiting, overdue) and today's approvals: automatic against the daily limit, by people."""
    return approval_stats(session=session, settings=cfg)
