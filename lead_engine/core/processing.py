"""The "process" job: parse the stored raw e-mail, keep operator corrections, score and route the lead."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from lead_engine.core.db import read_session
from lead_engine.core.errors import LeadEngineError, NotFoundError
from lead_engine.core.imports.rows import IMPORT_ROW_TYPE, IMPORT_TEMPLATE, read_row_body
from lead_engine.core.inbound import read_inbound
from lead_engine.core.job_kinds import PROCESS_POLICY
from lead_engine.core.lead_fields import CANONICAL_FIELDS, InboundEmail, ParsedLead
from lead_engine.core.leads import enqueue_sync, enter_status, get_lead, has_event, held_lead, record_event
from lead_engine.core.models import Lead, RawMessage, utcnow
from lead_engine.core.outbox import ClaimedJob
from lead_engine.core.parsing.html_text import bare_text
from lead_engine.core.parsing.parser import parse_email
from lead_engine.core.qualification.junk import detect_junk
from lead_engine.core.qualification.llm_opinion import OpenAIQualifier, Qualifier, opinion_of
from lead_engine.core.qualification.routing import (
    AUTO_APPROVED,
    claim_auto_approval,
    parse_confidence,
    route_lead,
)
from lead_engine.core.qualification.rules import rules_source
from lead_engine.core.qualification.scoring import Contribution, apply_verdict, lead_values, score_stored_lead
from lead_engine.core.retry import CircuitBreaker
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import KEEP_STATUS_ON_REPARSE, LeadStatus

logger = logging.getLogger(__name__)

# A reparse leaves the status of these alone too once an operator approved the lead: a person's verdict
# outranks the score.
APPROVED_KEEP = frozenset({LeadStatus.READY, LeadStatus.RETRYING, LeadStatus.DEAD})


def load_raws(*, session: Session, lead_ids: list[str]) -> dict[str, InboundEmail | ParsedLead]:
    """The e-mail behind each lead found (one query); when it is missing or unreadable, a parse that needs review."""
    query = (
        select(col(Lead.id), col(Lead.source), RawMessage)
        .outerjoin(RawMessage, col(RawMessage.id) == col(Lead.raw_message_id))
        .where(col(Lead.id).in_(lead_ids))
    )
    loaded: dict[str, InboundEmail | ParsedLead] = {}
    for lead_id, source, raw in session.execute(query):
        if raw is None:
            loaded[lead_id] = ParsedLead(needs_review=True, reasons=["raw message missing"])
            continue
        if raw.content_type == IMPORT_ROW_TYPE:
            loaded[lead_id] = read_row_body(raw.body)
            continue
        try:
            loaded[lead_id] = read_inbound(raw.content_type, raw.body, source=source)
        except LeadEngineError as exc:
            loaded[lead_id] = ParsedLead(needs_review=True, reasons=[f"raw message unreadable: {exc}"])
    return loaded


def load_raw(*, session: Session, lead_id: str) -> InboundEmail | ParsedLead:
    """The e-mail behind one lead (see ``load_raws``), or NotFoundError."""
    loaded = load_raws(session=session, lead_ids=[lead_id])
    if lead_id not in loaded:
        raise NotFoundError(f"lead {lead_id} not found")
    return loaded[lead_id]


def _kept(lead: Lead, name: str, parsed: ParsedLead) -> bool:
    """Whether a parse leaves the field alone: an operator set it, or an import did and this parse is a mail's."""
    provenance = lead.fields.get(name, {}).get("provenance")
    return provenance == "operator" or (provenance == "import" and parsed.template != IMPORT_TEMPLATE)


def field_changes(lead: Lead, parsed: ParsedLead) -> dict[str, tuple[str | None, str | None]]:
    """What a parse would change on a lead (old, new) per field; what a person or an import set stays."""
    changes = {}
    for name in CANONICAL_FIELDS:
        if _kept(lead, name, parsed):
            continue
        found = parsed.fields.get(name)
        value = found.value if found else None
        if value != getattr(lead, name):
            changes[name] = (getattr(lead, name), value)
    return changes


@dataclass
class ReparsePreview:
    """What parsing stored leads again would change, before anything is written."""

    leads: int = 0
    changed_leads: list[str] = field(default_factory=list)
    by_field: dict[str, list[tuple[str, str | None, str | None]]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def preview_reparse(*, session: Session, settings: Settings, lead_ids: list[str]) -> ReparsePreview:
    """Parse each lead's stored e-mail with today's parser and collect, per field, the leads it would alter."""
    preview = ReparsePreview(leads=len(lead_ids))
    for lead_id in lead_ids:
        lead = get_lead(session=session, lead_id=lead_id)
        loaded = load_raw(session=session, lead_id=lead_id)
        if isinstance(loaded, ParsedLead):
            preview.unreadable.append(lead_id)
            continue
        changes = field_changes(lead, parse_email(loaded, settings=settings))
        if changes:
            preview.changed_leads.append(lead_id)
        for name, (old, new) in changes.items():
            preview.by_field.setdefault(name, []).append((lead_id, old, new))
    return preview


def apply_parsed(lead: Lead, parsed: ParsedLead) -> list[str]:
    """Copy parsed values onto the lead, never over a field an operator set; returns the changed names."""
    meta = dict(lead.fields)
    changes = field_changes(lead, parsed)
    for name, (_, value) in changes.items():
        setattr(lead, name, value)
    for name in CANONICAL_FIELDS:
        if _kept(lead, name, parsed):
            continue
        found = parsed.fields.get(name)
        if found:
            meta[name] = {"provenance": found.provenance, "confidence": round(found.confidence, 3)}
        else:
            meta.pop(name, None)
    lead.fields = meta
    return list(changes)


@dataclass
class Processed:
    """A parse, why the mail is junk (when it is), and the LLM's opinion (when one was asked for)."""

    parsed: ParsedLead
    junk: str | None = None
    opinion: list[Contribution] = field(default_factory=list)


class ProcessHandler:
    """Parse → score → route: rejected as junk, ready (and sync queued) when approved automatically, else review.

    A batch's stored e-mails are read in one read transaction, parsed with none open (an LLM call can take
    seconds), and the outcomes written in the batch's one commit.
    """

    policy = PROCESS_POLICY
    breaker: CircuitBreaker | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = rules_source(settings.rules_file)
        self.qualifier: Qualifier | None = OpenAIQualifier(settings) if settings.llm_enabled else None
        # With an LLM the parse waits on the network; rules alone keep the CPU busy.
        self.io_bound = settings.llm_enabled

    def prepare(self, engine: Engine, jobs: list[ClaimedJob]) -> dict[int, InboundEmail | ParsedLead]:
        """Each job's stored e-mail, or a parse that needs review when it is missing or unreadable."""
        with read_session(engine) as session:
            loaded = load_raws(session=session, lead_ids=[job.lead_id for job in jobs])
        return {job.id: loaded[job.lead_id] for job in jobs}

    def work(self, job: ClaimedJob, item: InboundEmail | ParsedLead) -> Processed:
        """Parse the e-mail (rules, then the LLM when configured) and tell whether it is junk."""
        if isinstance(item, ParsedLead):
            return Processed(item)
        rules = self.rules.current()
        parsed = parse_email(item, settings=self.settings)
        junk = detect_junk(item, parsed, template=parsed.template, rules=rules.junk)
        if junk or self.qualifier is None or not rules.llm.points:
            return Processed(parsed, junk)
        text = parsed.value("message") or item.text or bare_text(item.html)
        return Processed(parsed, None, [opinion_of(self.qualifier, subject=item.subject, text=text, rules=rules)])

    def record(self, session: Session, job: ClaimedJob, processed: Processed) -> None:
        """Apply the parse, score the lead, route it, and queue its sync when it was approved automatically."""
        parsed = processed.parsed
        lead = held_lead(session=session, lead_id=job.lead_id)
        changed = apply_parsed(lead, parsed)
        lead.template = parsed.template
        verdict = score_stored_lead(
            lead, self.rules.current(), excluded_domains=self.settings.own_domains, opinion=processed.opinion
        )
        apply_verdict(lead, verdict)
        lead.updated_at = utcnow()
        lead.version += 1
        session.add(lead)
        record_event(
            session=session, lead_id=lead.id, action="parsed", changed=changed,
            score=verdict.score, grade=verdict.grade.value, qualified=verdict.qualified, doubts=parsed.reasons,
        )  # fmt: skip
        if lead.status in KEEP_STATUS_ON_REPARSE or (
            lead.status in APPROVED_KEEP and has_event(session=session, lead_id=lead.id, action="approved")
        ):
            return
        junk = processed.junk
        if junk and has_event(session=session, lead_id=lead.id, action="restored"):
            junk = None  # a person said it is not junk
        route = route_lead(
            verdict,
            values=lead_values(lead),
            confidence=parse_confidence(lead.fields),
            junk=junk,
            doubts=parsed.reasons,
            settings=self.settings,
            claim_approval=lambda: claim_auto_approval(session=session, settings=self.settings),
        )
        enter_status(lead, route.status, self.settings)
        lead.reasons = route.reasons
        if route.status == LeadStatus.REJECTED:
            record_event(session=session, lead_id=lead.id, action="rejected", reason=route.reasons[0], junk=True)
        elif route.auto_approved:
            record_event(session=session, lead_id=lead.id, action=AUTO_APPROVED, reason=route.reasons[0])
            if self.settings.sync_enabled:
                enqueue_sync(session, self.settings, lead.id)
        logger.info("lead processed", extra={"action": "lead.parsed", "lead_id": lead.id, "status": lead.status})

    def on_retry(self, session: Session, job: ClaimedJob, error: str, delay: float) -> None:
        """Nothing to show yet: the lead stays received until parsing succeeds or gives up."""

    def on_dead(self, session: Session, job: ClaimedJob, error: str) -> None:
        """A lead that cannot be processed waits for a person, its raw e-mail kept."""
        lead = held_lead(session=session, lead_id=job.lead_id)
        if lead.status not in KEEP_STATUS_ON_REPARSE:
            enter_status(lead, LeadStatus.NEEDS_REVIEW, self.settings)
            lead.last_error = error
            lead.reasons = [*lead.reasons, f"processing failed: {error[:200]}"]
            lead.version += 1
            session.add(lead)
            record_event(session=session, lead_id=lead.id, action="processing_failed", error=error[:500])
