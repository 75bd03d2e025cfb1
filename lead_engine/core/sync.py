"""The "sync" job: find or create the lead's company in the Company Explorer, add the contact, start discovery."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from lead_engine.core.company_explorer import CompanyExplorerClient, SyncTarget
from lead_engine.core.company_matching import (
    best_name_match,
    company_key,
    lead_domain,
    strip_legal_form,
)
from lead_engine.core.db import get_engine, read_session
from lead_engine.core.domains import registrable_domain
from lead_engine.core.errors import ConflictError, PermanentError
from lead_engine.core.job_kinds import SYNC_JOB
from lead_engine.core.jobs import JobContext, execute_job, register_handler
from lead_engine.core.leads import enqueue_sync, get_lead, lock_lead, record_event
from lead_engine.core.models import Job, Lead, utcnow
from lead_engine.core.notifications import CHANNELS, EVENTS, enqueue_notifications, notify_kind
from lead_engine.core.outbox import claim_lead_job
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

# An operator's verdict outranks whatever the sync job reports.
FINAL_BY_OPERATOR = ("rejected",)
# A sync job pushes only a lead in one of these; any other means the job is stale (rejected, back in review…).
SYNCABLE = ("ready", "retrying", "syncing")
COMPANY_FIELDS = ("street", "postal_code", "city", "country", "industry")


@dataclass(frozen=True)
class LeadSnapshot:
    """The lead's values as read before the HTTP calls, so no transaction stays open during them."""

    id: str
    company: str | None
    contact_name: str | None
    email: str | None
    phone: str | None
    website: str | None
    values: dict[str, str | None]

    @classmethod
    def of(cls, lead: Lead) -> LeadSnapshot:
        """Copy what the sync needs from a lead row."""
        return cls(
            id=lead.id,
            company=lead.company,
            contact_name=lead.contact_name,
            email=lead.email,
            phone=lead.phone,
            website=lead.website,
            values={name: getattr(lead, name) for name in COMPANY_FIELDS},
        )


@dataclass(frozen=True)
class SyncResult:
    """Which company the lead went to and how it was found: by "domain", by "name", or "created"."""

    company_id: str
    matched_by: str


def find_company(target: SyncTarget, lead: LeadSnapshot, domain: str | None) -> tuple[dict[str, Any] | None, str]:
    """The lead's company in the Company Explorer by registrable domain, else by normalised name."""
    if domain:
        for item in target.find_companies(domain=domain):
            if registrable_domain(str(item.get("domain") or domain)) == domain:
                return item, "domain"
    if lead.company:
        candidates = target.find_companies(name=strip_legal_form(lead.company))
        match = best_name_match(lead.company, candidates, domain=domain)
        if match is not None:
            return dict(match), "name"
    return None, "created"


def sync_company(
    target: SyncTarget, lead: LeadSnapshot, *, contact_key: str, excluded_domains: Iterable[str] = ()
) -> SyncResult:
    """Find or create the company, add the contact and trigger discovery; safe to repeat with the same keys."""
    domain = lead_domain(website=lead.website, email=lead.email, excluded=excluded_domains)
    company, matched_by = find_company(target, lead, domain)
    if company is None:
        key = company_key(domain=domain, name=lead.company)
        if key is None:
            raise PermanentError("the lead has neither a company name nor a company domain to sync")
        body = {
            "name": lead.company or domain,
            "domain": domain,
            "website": lead.website or (f"https://{domain}" if domain else None),
            **lead.values,
            "source": "lead-engine",
        }
        try:
            company = target.create_company(body, idempotency_key=key)
        except PermanentError:
            # Another lead of this company may have created it under a key of its own in the meantime.
            company, matched_by = find_company(target, lead, domain)
            if company is None:
                raise
    company_id = str(company["id"])
    contact = {"name": lead.contact_name, "email": lead.email, "phone": lead.phone, "role": None}
    target.add_contact(company_id, contact, idempotency_key=contact_key)
    target.start_discovery(company_id)
    return SyncResult(company_id=company_id, matched_by=matched_by)


@lru_cache(maxsize=16)
def _client(url: str, token: str | None, timeout: float) -> CompanyExplorerClient:
    # One connection pool per process and Company Explorer, shared by the worker's threads.
    return CompanyExplorerClient(url, token=token, timeout=timeout)


def target_for(settings: Settings) -> SyncTarget:
    """The configured Company Explorer."""
    if not settings.company_explorer_url:
        raise PermanentError("sync is disabled: LEAD_ENGINE_COMPANY_EXPLORER_URL is not set")
    token = settings.company_explorer_token.get_secret_value() if settings.company_explorer_token else None
    return _client(settings.company_explorer_url, token, settings.company_explorer_timeout)


def _set_status(session: Session, lead: Lead, status: str, **values: Any) -> None:
    lead.status, lead.updated_at, lead.version = status, utcnow(), lead.version + 1
    for name, value in values.items():
        setattr(lead, name, value)
    session.add(lead)


def _follow_up_waiting(session: Session, lead_id: str) -> bool:
    """Whether a resync queued another sync of the lead while this one ran (see ``retry_job``)."""
    queued = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(col(Job.lead_id) == lead_id, col(Job.kind) == SYNC_JOB, col(Job.status) == "queued")
    )
    return bool(queued)


class SyncHandler:
    """Runs "sync" jobs: syncing → synced, or retrying → … → dead, with an event for every attempt.

    Every write reads the lead row-locked first, so an operator's change made meanwhile (a rejection, a
    correction) is seen and kept, never overwritten with a stale copy.
    """

    def run(self, ctx: JobContext) -> None:
        """Mark the lead syncing, call the Company Explorer outside any transaction, record the result."""
        with Session(ctx.engine) as session, session.begin():
            lead = lock_lead(session=session, lead_id=ctx.job.lead_id)
            snapshot, status = LeadSnapshot.of(lead), lead.status
            if status in SYNCABLE:
                _set_status(session, lead, "syncing")
                record_event(session=session, lead_id=lead.id, action="sync_started", attempt=ctx.job.attempts)
        if status not in SYNCABLE:
            # A stale job: the lead was rejected, or went back to review, after its sync was queued.
            reason = "lead was rejected" if status == "rejected" else f"lead is {status}, not ready to sync"
            with ctx.finish() as session:
                record_event(session=session, lead_id=snapshot.id, action="sync_skipped", reason=reason, status=status)
            return
        result = sync_company(
            target_for(ctx.settings),
            snapshot,
            contact_key=f"{ctx.job.idempotency_key}:contact",
            excluded_domains=ctx.settings.own_domains,
        )
        with ctx.finish() as session:
            lead = lock_lead(session=session, lead_id=snapshot.id)
            if lead.status != "syncing":
                # Rejected (or sent back to review) while the calls ran: keep that verdict, remember the company.
                _set_status(session, lead, lead.status, company_explorer_id=result.company_id)
                record_event(
                    session=session,
                    lead_id=lead.id,
                    action="sync_skipped",
                    reason=f"lead was {lead.status} while it synced",
                    status=lead.status,
                    company_explorer_id=result.company_id,
                )
                logger.info("lead sync discarded", extra={"action": "lead.sync_discarded", "lead_id": lead.id})
                return
            # A follow-up sync pushes later corrections; it, not this one, ends in synced and tells the team.
            follow_up = _follow_up_waiting(session, lead.id)
            status = "ready" if follow_up else "synced"
            _set_status(session, lead, status, company_explorer_id=result.company_id, last_error=None)
            record_event(
                session=session,
                lead_id=lead.id,
                action="synced",
                attempt=ctx.job.attempts,
                company_explorer_id=result.company_id,
                matched_by=result.matched_by,
            )
            if not follow_up:
                enqueue_notifications(session=session, settings=ctx.settings, lead=lead, event="synced")
        logger.info(
            "lead synced",
            extra={"action": "lead.synced", "lead_id": snapshot.id, "company_explorer_id": result.company_id},
        )

    def on_retry(self, session: Session, ctx: JobContext, error: str, delay: float) -> None:
        """The lead shows "retrying" with the error until the next attempt."""
        lead = lock_lead(session=session, lead_id=ctx.job.lead_id)
        if lead.status in SYNCABLE:
            _set_status(session, lead, "retrying", last_error=error)
        record_event(
            session=session,
            lead_id=lead.id,
            action="sync_retrying",
            attempt=ctx.job.attempts,
            error=error[:1000],
            retry_in=round(delay, 3),
        )

    def on_dead(self, session: Session, ctx: JobContext, error: str) -> None:
        """The lead goes dead with the last error kept, and the team is told."""
        lead = lock_lead(session=session, lead_id=ctx.job.lead_id)
        if lead.status in SYNCABLE and _follow_up_waiting(session, lead.id):
            # A resync queued meanwhile (say, after a correction of the rejected name) gets its chance.
            _set_status(session, lead, "ready", last_error=error)
        elif lead.status in SYNCABLE:
            _set_status(session, lead, "dead", last_error=error)
            enqueue_notifications(session=session, settings=ctx.settings, lead=lead, event="dead", error=error)
        record_event(session=session, lead_id=lead.id, action="sync_dead", attempt=ctx.job.attempts, error=error[:1000])
        logger.warning("lead sync dead", extra={"action": "lead.sync_dead", "lead_id": lead.id})


register_handler(SYNC_JOB, SyncHandler())


def _request_sync(engine: Engine, settings: Settings, lead_id: str) -> None:
    with Session(engine) as session, session.begin():
        lead = get_lead(session=session, lead_id=lead_id)
        if lead.status in FINAL_BY_OPERATOR:
            raise ConflictError(f"lead {lead_id} was {lead.status}; approve it first")
        enqueue_sync(session, settings, lead_id)
        # An attempt waiting for its backoff runs now: the operator asked for it.
        session.execute(
            update(Job)
            .where(col(Job.lead_id) == lead_id, col(Job.kind) == SYNC_JOB, col(Job.status) == "queued")
            .values(run_after=utcnow())
        )
        record_event(session=session, lead_id=lead_id, action="sync_requested", actor="cli")


def _run_lead_job(engine: Engine, settings: Settings, lead_id: str, kind: str, *, wait: bool) -> None:
    worker = f"run-sync-{os.getpid()}"
    while True:
        with Session(engine) as session:
            job, due_in = claim_lead_job(
                session=session, lead_id=lead_id, kind=kind, worker=worker, lease_seconds=settings.job_lease_seconds
            )
        if job is not None:
            state = execute_job(JobContext(engine=engine, settings=settings, job=job, worker=worker))
            logger.info(
                "attempt finished",
                extra={
                    "action": "sync.attempt",
                    "lead_id": lead_id,
                    "kind": kind,
                    "attempt": job.attempts,
                    "state": state,
                },
            )
            if not wait:
                return
        elif due_in is None or not wait:
            return
        else:
            time.sleep(min(max(due_in, 0.01), 1.0))


def run_sync(lead_id: str, *, settings: Settings) -> str:
    """Sync one lead now, in this process, retrying by the job's rules until synced or dead; returns the status."""
    if not settings.sync_enabled:
        raise ConflictError("sync is disabled: set LEAD_ENGINE_COMPANY_EXPLORER_URL")
    engine = get_engine(settings.database_url)
    _request_sync(engine, settings, lead_id)
    _run_lead_job(engine, settings, lead_id, SYNC_JOB, wait=True)
    # One delivery attempt each now; the worker retries any that fail.
    for channel in CHANNELS:
        for event in EVENTS:
            _run_lead_job(engine, settings, lead_id, notify_kind(channel, event), wait=False)
    with read_session(engine) as session:
        return get_lead(session=session, lead_id=lead_id).status
