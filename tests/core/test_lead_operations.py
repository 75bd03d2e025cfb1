"""Operator use cases on leads: which statuses a resync starts from, and what it queues."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from lead_engine.core.errors import ConflictError
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import IngestOutcome, write_batch
from lead_engine.core.leads import resync_lead
from lead_engine.core.models import Job, Lead
from lead_engine.core.settings import Settings


def _lead_in(engine: Engine, status: str) -> str:
    payload = json.dumps({"subject": f"lead {status}", "raw_body": "Firma: A GmbH"}).encode()
    [outcome] = write_batch(engine, [prepare_ingest("application/json", payload)])
    assert isinstance(outcome, IngestOutcome)
    with Session(engine) as session:
        session.execute(update(Lead).where(col(Lead.id) == outcome.lead_id).values(status=status))
        session.commit()
    return outcome.lead_id


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        ("ready", True),  # qualified, sync queued again
        ("dead", True),  # the usual case: after an outage
        ("synced", True),  # push corrections
        ("retrying", True),  # do not wait for the backoff
        ("needs_review", False),  # unqualified: approve first
        ("received", False),  # not parsed yet
        ("rejected", False),  # an operator said no
    ],
)
def test_resync_starts_only_from_qualified_states(
    engine: Engine, settings: Settings, status: str, allowed: bool
) -> None:
    lead_id = _lead_in(engine, status)
    sync_on = settings.model_copy(update={"company_explorer_url": "http://127.0.0.1:9"})
    with Session(engine) as session:
        if not allowed:
            with pytest.raises(ConflictError, match="approve it first"):
                resync_lead(session=session, settings=sync_on, lead_id=lead_id, actor="t")
            return
        lead = resync_lead(session=session, settings=sync_on, lead_id=lead_id, actor="t")
        assert lead.status == "ready"
        jobs = session.scalars(select(Job).where(col(Job.lead_id) == lead_id, col(Job.kind) == "sync")).all()
    assert [job.status for job in jobs] == ["queued"]
