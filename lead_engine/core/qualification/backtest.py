"""Replaying stored leads through a candidate rules file: how routing and scores would change before switching."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from lead_engine.core.lead_fields import FieldValue, InboundEmail, ParsedLead
from lead_engine.core.models import Lead, LeadEvent
from lead_engine.core.processing import load_raws
from lead_engine.core.qualification.junk import detect_junk
from lead_engine.core.qualification.routing import parse_confidence, route_lead
from lead_engine.core.qualification.rules import Rules
from lead_engine.core.qualification.scoring import lead_values, score_stored_lead
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import LeadStatus

BATCH = 200
ROUTES = {LeadStatus.READY: "auto-approved", LeadStatus.NEEDS_REVIEW: "review", LeadStatus.REJECTED: "rejected"}


@dataclass(frozen=True)
class ScoreMove:
    """One lead whose score the candidate rules change."""

    lead_id: str
    company: str
    old_score: int
    new_score: int
    old_route: str
    new_route: str


@dataclass
class Backtest:
    """Routes under the current and the candidate rules, and the leads that move."""

    leads: int = 0
    current: Counter[str] = field(default_factory=Counter)
    candidate: Counter[str] = field(default_factory=Counter)
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    moves: list[ScoreMove] = field(default_factory=list)

    def biggest_moves(self, count: int = 20) -> list[ScoreMove]:
        """The leads whose score moves most, largest first."""
        return sorted(self.moves, key=lambda move: abs(move.new_score - move.old_score), reverse=True)[:count]


def _parsed_from(lead: Lead) -> ParsedLead:
    values = lead_values(lead)
    fields = {name: FieldValue(str(value), "rule", 1.0) for name, value in values.items() if value}
    return ParsedLead(fields=fields, template=lead.template or "free_text")


def _doubts(session: Session, lead_ids: list[str]) -> dict[str, list[str]]:
    # The parser's doubts as its last "parsed" event recorded them (the rules cannot change those).
    query = (
        select(col(LeadEvent.lead_id), col(LeadEvent.detail))
        .where(col(LeadEvent.lead_id).in_(lead_ids), col(LeadEvent.action) == "parsed")
        .order_by(col(LeadEvent.id))
    )
    return {lead_id: list(detail.get("doubts", [])) for lead_id, detail in session.execute(query)}


def _route(
    lead: Lead, rules: Rules, email: InboundEmail | None, doubts: list[str], settings: Settings
) -> tuple[int, str]:
    verdict = score_stored_lead(lead, rules, excluded_domains=settings.own_domains)
    template = lead.template or "free_text"
    junk = detect_junk(email, _parsed_from(lead), template=template, rules=rules.junk) if email else None
    route = route_lead(
        verdict,
        values=lead_values(lead),
        confidence=parse_confidence(lead.fields),
        junk=junk,
        doubts=doubts,
        settings=settings,
        claim_approval=lambda: True,
    )
    return verdict.score, ROUTES[route.status]


def backtest_rules(
    *, session: Session, settings: Settings, current: Rules, candidate: Rules, since: datetime
) -> Backtest:
    """Route every lead parsed since ``since`` under both rule sets (the daily limit left out) and compare."""
    ids = list(
        session.scalars(
            select(col(Lead.id))
            .where(col(Lead.received_at) >= since, col(Lead.status) != LeadStatus.RECEIVED)
            .order_by(col(Lead.received_at))
        )
    )
    result = Backtest()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        leads = session.scalars(select(Lead).where(col(Lead.id).in_(chunk))).all()
        raws = load_raws(session=session, lead_ids=chunk)
        doubts = _doubts(session, chunk)
        for lead in leads:
            raw = raws.get(lead.id)
            email = raw if isinstance(raw, InboundEmail) else None
            old_score, old_route = _route(lead, current, email, doubts.get(lead.id, []), settings)
            new_score, new_route = _route(lead, candidate, email, doubts.get(lead.id, []), settings)
            result.leads += 1
            result.current[old_route] += 1
            result.candidate[new_route] += 1
            if old_route != new_route:
                result.changes[(old_route, new_route)] += 1
            if old_score != new_score or old_route != new_route:
                company = lead.company or lead.email or "(no company)"
                result.moves.append(ScoreMove(lead.id, company, old_score, new_score, old_route, new_route))
    return result
