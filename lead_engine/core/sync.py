"""The "sync" job: find or create the lead's company in the Company Explorer, add the contact, start discovery."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
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
from lead_engine.core.job_kinds import SYNC_JOB, sync_policy
from lead_engine.core.jobs import JobHandler, LeaseLostError, run_batch
from lead_engine.core.leads import get_lead, held_lead, lock_leads, record_event, restart_sync
from lead_engine.core.models import Job, Lead, utcnow
from lead_engine.core.notifications import enqueue_notifications, notify_handlers
from lead_engine.core.outbox import ClaimedJob, claim_lead_job, save_progress
from lead_engine.core.retry import CircuitBreaker, retry_call
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import FINAL_BY_OPERATOR, SYNCABLE, JobStatus, LeadStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")
Call = Callable[[Callable[[], Any]], Any]
# How long `run_sync` waits for a next attempt before it leaves the lead to the worker.
RUN_SYNC_WAIT_SECONDS = 60.0
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


def _once(request: Callable[[], T]) -> T:
    return request()


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


def find_or_create_company(
    target: SyncTarget, lead: LeadSnapshot, *, excluded_domains: Iterable[str] = (), call: Call = _once
) -> SyncResult:
    """The lead's company in the Company Explorer, created when none matches; safe to repeat (same key)."""
    domain = lead_domain(website=lead.website, email=lead.email, excluded=excluded_domains)
    company, matched_by = call(lambda: find_company(target, lead, domain))
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
            company = call(lambda: target.create_company(body, idempotency_key=key))
        except PermanentError:
            # Another lead of this company may have created it under a key of its own in the meantime.
            company, matched_by = call(lambda: find_company(target, lead, domain))
            if company is None:
                raise
    return SyncResult(company_id=str(company["id"]), matched_by=matched_by)


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
        .where(col(Job.lead_id) == lead_id, col(Job.kind) == SYNC_JOB, col(Job.status) == JobStatus.QUEUED)
    )
    return bool(queued)


@dataclass(frozen=True)
class Skipped:
    """A stale sync job: the lead was rejected, or went back to review, after its sync was queued."""

    status: str

    @property
    def reason(self) -> str:
        """Why nothing was sent."""
        return (
            "lead was rejected" if self.status == LeadStatus.REJECTED else f"lead is {self.status}, not ready to sync"
        )


class SyncHandler:
    """Runs "sync" jobs: syncing → synced, or retrying → … → dead, with an event for every attempt.

    The three steps (company found or created, contact added, discovery started) are stored in the job as
    each completes, so a later attempt continues after the last completed step. Every write reads the lead
    row-locked first, so an operator's change made meanwhile (a rejection, a correction) is seen and kept.
    """

    io_bound = True

    def __init__(self, engine: Engine, settings: Settings, breaker: CircuitBreaker | None = None) -> None:
        self.engine, self.settings, self.breaker = engine, settings, breaker
        self.policy = sync_policy(settings)

    def prepare(self, engine: Engine, jobs: list[ClaimedJob]) -> dict[int, LeadSnapshot | Skipped]:
        """Mark the batch's leads syncing (one commit) and copy what the calls need."""
        items: dict[int, LeadSnapshot | Skipped] = {}
        with Session(engine) as session, session.begin():
            leads = lock_leads(session=session, lead_ids=[job.lead_id for job in jobs])
            for job in jobs:
                lead = leads[job.lead_id]
                if lead.status not in SYNCABLE:
                    items[job.id] = Skipped(lead.status)
                    continue
                items[job.id] = LeadSnapshot.of(lead)
                _set_status(session, lead, LeadStatus.SYNCING)
                record_event(session=session, lead_id=lead.id, action="sync_started", attempt=job.attempts)
        return items

    def work(self, job: ClaimedJob, lead: LeadSnapshot | Skipped) -> SyncResult | Skipped:
        """The calls still to make, each stored in the job once it succeeded."""
        if isinstance(lead, Skipped):
            return lead
        target, progress, settings = target_for(self.settings), job.payload, self.settings

        def call(request: Callable[[], T]) -> T:
            return retry_call(
                request,
                retries=settings.sync_call_retries,
                backoff=settings.sync_call_backoff,
                retry_after_max=settings.sync_call_retry_after_max,
                breaker=self.breaker,
            )

        if "company_id" not in progress:
            found = find_or_create_company(target, lead, excluded_domains=settings.own_domains, call=call)
            progress.update(company_id=found.company_id, matched_by=found.matched_by)
            self._save(job)
        company_id = str(progress["company_id"])
        if not progress.get("contact_added"):
            contact = {"name": lead.contact_name, "email": lead.email, "phone": lead.phone, "role": None}
            call(lambda: target.add_contact(company_id, contact, idempotency_key=f"{job.idempotency_key}:contact"))
            progress["contact_added"] = True
            self._save(job)
        if not progress.get("discovery_started"):
            call(lambda: target.start_discovery(company_id, idempotency_key=f"{job.idempotency_key}:discovery"))
            progress["discovery_started"] = True
        return SyncResult(company_id=company_id, matched_by=str(progress.get("matched_by")))

    def _save(self, job: ClaimedJob) -> None:
        with Session(self.engine) as session, session.begin():
            if not save_progress(session=session, job=job):
                raise LeaseLostError(f"job {job.id} is no longer held by {job.worker}")

    def record(self, session: Session, job: ClaimedJob, result: SyncResult | Skipped) -> None:
        """Synced (and the team told), or kept as an operator left it while the calls ran."""
        if isinstance(result, Skipped):
            record_event(
                session=session, lead_id=job.lead_id, action="sync_skipped", reason=result.reason, status=result.status
            )
            return
        lead = held_lead(session=session, lead_id=job.lead_id)
        if lead.status != LeadStatus.SYNCING:
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
        status = LeadStatus.READY if follow_up else LeadStatus.SYNCED
        _set_status(session, lead, status, company_explorer_id=result.company_id, last_error=None)
        record_event(
            session=session,
            lead_id=lead.id,
            action="synced",
            attempt=job.attempts,
            company_explorer_id=result.company_id,
            matched_by=result.matched_by,
        )
        if not follow_up:
            enqueue_notifications(session=session, settings=self.settings, lead=lead, event="synced")
        logger.info(
            "lead synced", extra={"action": "lead.synced", "lead_id": lead.id, "company_explorer_id": result.company_id}
        )

    def on_retry(self, session: Session, job: ClaimedJob, error: str, delay: float) -> None:
        """The lead shows "retrying" with the error until the next attempt."""
        lead = held_lead(session=session, lead_id=job.lead_id)
        if lead.status in SYNCABLE:
            _set_status(session, lead, LeadStatus.RETRYING, last_error=error)
        record_event(
            session=session,
            lead_id=lead.id,
            action="sync_retrying",
            attempt=job.attempts,
            error=error[:1000],
            retry_in=round(delay, 3),
            steps_done=[step for step in ("company_id", "contact_added", "discovery_started") if job.payload.get(step)],
        )

    def on_dead(self, session: Session, job: ClaimedJob, error: str) -> None:
        """The lead goes dead with the last error kept, and the team is told."""
        lead = held_lead(session=session, lead_id=job.lead_id)
        if lead.status in SYNCABLE and _follow_up_waiting(session, lead.id):
            # A resync queued meanwhile (say, after a correction of the rejected name) gets its chance.
            _set_status(session, lead, LeadStatus.READY, last_error=error)
        elif lead.status in SYNCABLE:
            _set_status(session, lead, LeadStatus.DEAD, last_error=error)
            enqueue_notifications(session=session, settings=self.settings, lead=lead, event="dead", error=error)
        record_event(session=session, lead_id=lead.id, action="sync_dead", attempt=job.attempts, error=error[:1000])
        logger.warning("lead sync dead", extra={"action": "lead.sync_dead", "lead_id": lead.id})


def _request_sync(engine: Engine, settings: Settings, lead_id: str) -> None:
    with Session(engine) as session, session.begin():
        lead = get_lead(session=session, lead_id=lead_id)
        if lead.status in FINAL_BY_OPERATOR:
            raise ConflictError(f"lead {lead_id} was {lead.status}; approve it first")
        restart_sync(session, settings, lead_id)
        record_event(session=session, lead_id=lead_id, action="sync_requested", actor="cli")


def _run_lead_job(engine: Engine, handler: JobHandler, lead_id: str, kind: str, *, wait: float) -> None:
    """Run the lead's job of ``kind`` now, and its retries while the next one is due within ``wait`` seconds."""
    worker = f"run-sync-{os.getpid()}"
    deadline = time.monotonic() + wait
    while True:
        with Session(engine) as session:
            job, due_in = claim_lead_job(session=session, lead_id=lead_id, kind=kind, worker=worker, lease_seconds=300)
        if job is not None:
            [state] = run_batch(engine, handler, [job])
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
        elif due_in is None or time.monotonic() + due_in > deadline:
            return
        else:
            time.sleep(min(max(due_in, 0.01), 1.0))


def run_sync(lead_id: str, *, settings: Settings) -> str:
    """Sync one lead now, in this process; retries due within a minute are waited for. Returns the status.

    A lead still retrying after that is left to the worker, on the sync schedule.
    """
    if not settings.sync_enabled:
        raise ConflictError("sync is disabled: set LEAD_ENGINE_COMPANY_EXPLORER_URL")
    engine = get_engine(settings.database_url)
    _request_sync(engine, settings, lead_id)
    _run_lead_job(engine, SyncHandler(engine, settings), lead_id, SYNC_JOB, wait=RUN_SYNC_WAIT_SECONDS)
    # One delivery attempt each now; the worker retries any that fail.
    for kind, handler in notify_handlers(settings).items():
        _run_lead_job(engine, handler, lead_id, kind, wait=0)
    with read_session(engine) as session:
        return get_lead(session=session, lead_id=lead_id).status
