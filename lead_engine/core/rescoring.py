"""Scoring every stored lead again when the rules change, so scores and grades follow the rules in force."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from lead_engine.core.models import Lead
from lead_engine.core.qualification.rules import Rules
from lead_engine.core.qualification.scoring import apply_verdict, score_stored_lead
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

BATCH = 500


def rescore_leads(engine: Engine, settings: Settings, rules: Rules) -> int:
    """Score every scored lead again under ``rules``, one short transaction per batch; returns how many moved.

    Only the score, its grade and components change: the status stays (a person or ``rules check`` decides what
    a lead in review should become), and the version stays, so nobody's open edit conflicts with it.
    """
    moved, after = 0, ""
    while True:
        with Session(engine) as session:
            query = (
                select(Lead)
                .where(col(Lead.id) > after, col(Lead.score).is_not(None))
                .order_by(col(Lead.id))
                .limit(BATCH)
                .with_for_update()
            )
            leads = list(session.scalars(query))
            if not leads:
                break
            for lead in leads:
                before = (lead.score, lead.grade, lead.score_components)
                apply_verdict(lead, score_stored_lead(lead, rules, excluded_domains=settings.own_domains))
                moved += (lead.score, lead.grade, lead.score_components) != before
            session.commit()
            after = leads[-1].id
    logger.info("leads scored again under changed rules", extra={"action": "rules.rescored", "moved": moved})
    return moved
