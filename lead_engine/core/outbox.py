"""The durable job table: enqueue with the change that causes it, claim under a lease, finish or retry."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from lead_engine.core.models import Job, utcnow
from lead_engine.core.statuses import OPEN_JOB, JobStatus


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds under a lease until it finishes or the lease runs out."""

    id: int
    lead_id: str
    kind: str
    attempts: int
    max_attempts: int
    idempotency_key: str
    payload: dict[str, Any]
    worker: str


def enqueue_job(
    *,
    session: Session,
    lead_id: str,
    kind: str,
    idempotency_key: str,
    max_attempts: int = 8,
    payload: dict[str, Any] | None = None,
    run_after: datetime | None = None,
) -> None:
    """Add a job in the caller's transaction; nothing is added when one of that kind is already open."""
    now = utcnow()
    values = {
        "lead_id": lead_id,
        "kind": kind,
        "status": JobStatus.QUEUED,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "idempotency_key": idempotency_key,
        "payload": payload or {},
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    # Literal, not bound: PostgreSQL cannot match a partial index to a predicate with parameters once psycopg
    # prepares the statement (after a few runs on one connection): "no unique or exclusion constraint matching".
    where = text("status = 'queued'")
    if dialect == "postgresql":
        stmt: Any = (
            pg_insert(Job).values(values).on_conflict_do_nothing(index_elements=["lead_id", "kind"], index_where=where)
        )
    else:
        stmt = (
            sqlite_insert(Job)
            .values(values)
            .on_conflict_do_nothing(index_elements=["lead_id", "kind"], index_where=where)
        )
    session.execute(stmt)


def due_jobs(
    now: datetime, *, limit: int, kinds: Collection[str] | None = None, skip_kinds: Collection[str] = ()
) -> Select[Job]:
    """The query for due jobs (or jobs whose lease ran out), oldest due first.

    It reads the ``(status, run_after)`` index for both conditions, so done jobs kept as history never slow it.
    """
    other = aliased(Job)
    # One in-flight job of a kind per lead: skip a lead whose same-kind job another worker holds.
    busy = exists().where(
        and_(
            col(other.lead_id) == Job.lead_id,
            col(other.kind) == Job.kind,
            col(other.id) != Job.id,
            col(other.status) == JobStatus.RUNNING,
            col(other.locked_until) > now,
        )
    )
    due = or_(
        and_(col(Job.status) == JobStatus.QUEUED, col(Job.run_after) <= now),
        and_(col(Job.status) == JobStatus.RUNNING, col(Job.locked_until) < now),
    )
    query = select(Job).where(due, ~busy).order_by(col(Job.run_after)).limit(limit)
    if kinds is not None:
        query = query.where(col(Job.kind).in_(list(kinds)))
    if skip_kinds:
        query = query.where(col(Job.kind).not_in(list(skip_kinds)))
    return query


def claim_jobs(
    *,
    session: Session,
    worker: str,
    limit: int,
    lease_seconds: float,
    kinds: Collection[str] | None = None,
    skip_kinds: Collection[str] = (),
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs (or jobs whose lease ran out) for this worker, and commit the claim.

    ``kinds`` limits the claim to those kinds; ``skip_kinds`` leaves those (their service is down) waiting.
    """
    now = utcnow()
    query = due_jobs(now, limit=limit, kinds=kinds, skip_kinds=skip_kinds)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Job)
    with session.begin():
        jobs = list(session.scalars(query))
        lease = now + timedelta(seconds=lease_seconds)
        claimed = []
        for job in jobs:
            job.status, job.locked_by, job.locked_until = JobStatus.RUNNING, worker, lease
            job.attempts += 1
            job.updated_at = now
            claimed.append(
                ClaimedJob(
                    id=job.id or 0,
                    lead_id=job.lead_id,
                    kind=job.kind,
                    attempts=job.attempts,
                    max_attempts=job.max_attempts,
                    idempotency_key=job.idempotency_key,
                    payload=dict(job.payload),
                    worker=worker,
                )
            )
    return claimed


def _held(job: ClaimedJob) -> Any:
    return and_(col(Job.id) == job.id, col(Job.locked_by) == job.worker, col(Job.status) == JobStatus.RUNNING)


def _finish(session: Session, job: ClaimedJob, **values: Any) -> bool:
    result = session.execute(update(Job).where(_held(job)).values(updated_at=utcnow(), locked_until=None, **values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def save_progress(*, session: Session, job: ClaimedJob) -> bool:
    """Store the job's payload as it is now (the steps done so far); False when the lease was lost."""
    result = session.execute(update(Job).where(_held(job)).values(payload=job.payload, updated_at=utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def held_jobs(*, session: Session, jobs: list[ClaimedJob]) -> set[int]:
    """The ids of these jobs their worker still holds, row-locked until the transaction ends."""
    if not jobs:
        return set()
    query = select(col(Job.id)).where(
        col(Job.id).in_([job.id for job in jobs]),
        col(Job.locked_by) == jobs[0].worker,
        col(Job.status) == JobStatus.RUNNING,
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {job_id for job_id in session.scalars(query) if job_id is not None}


def complete_jobs(*, session: Session, job_ids: list[int]) -> None:
    """Mark held jobs done in the caller's transaction (checked with ``held_jobs`` first)."""
    if job_ids:
        session.execute(
            update(Job)
            .where(col(Job.id).in_(job_ids))
            .values(status=JobStatus.DONE, last_error=None, locked_until=None, updated_at=utcnow())
        )


def complete_job(*, session: Session, job: ClaimedJob) -> bool:
    """Mark a held job done in the caller's transaction; False when the lease was lost meanwhile."""
    return _finish(session, job, status=JobStatus.DONE, last_error=None)


def retry_job(*, session: Session, job: ClaimedJob, delay: float, error: str, refund: bool = False) -> bool:
    """Put a held job back in the queue to run after ``delay`` seconds; ``refund`` gives the attempt back.

    When a newer job of the same kind for the lead was queued during this run (a resync), that one
    takes over and this one ends as done with its error kept.
    """
    newer = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(col(Job.lead_id) == job.lead_id, col(Job.kind) == job.kind, col(Job.status) == JobStatus.QUEUED)
    )
    if newer:
        return _finish(session, job, status=JobStatus.DONE, last_error=f"superseded by a newer job: {error}"[:4000])
    run_after = utcnow() + timedelta(seconds=delay)
    attempts = {"attempts": job.attempts - 1} if refund else {}
    return _finish(
        session,
        job,
        status=JobStatus.QUEUED,
        run_after=run_after,
        last_error=error[:4000],
        payload=job.payload,
        **attempts,
    )


def kill_job(*, session: Session, job: ClaimedJob, error: str) -> bool:
    """Give a held job up for good ("dead"), keeping the last error."""
    return _finish(session, job, status=JobStatus.DEAD, last_error=error[:4000], payload=job.payload)


def count_open_jobs(*, session: Session) -> int:
    """How many jobs are queued or running."""
    return session.scalar(select(func.count()).select_from(Job).where(col(Job.status).in_(OPEN_JOB))) or 0


def claim_lead_job(
    *, session: Session, lead_id: str, kind: str, worker: str, lease_seconds: float
) -> tuple[ClaimedJob | None, float | None]:
    """Claim the lead's due job of ``kind``: (job, None); else (None, seconds until it is due) or (None, None)."""
    with session.begin():
        job = session.scalars(
            select(Job).where(col(Job.lead_id) == lead_id, col(Job.kind) == kind, col(Job.status).in_(OPEN_JOB))
        ).first()
        if job is None:
            return None, None
        now = utcnow()
        due_at = job.run_after if job.status == JobStatus.QUEUED else job.locked_until
        if due_at is not None and due_at > now:
            return None, (due_at - now).total_seconds()
        # Conditional on what was read: a worker that claimed it meanwhile makes this update a no-op.
        claimed = session.execute(
            update(Job)
            .where(col(Job.id) == job.id, col(Job.status) == job.status, col(Job.attempts) == job.attempts)
            .values(
                status=JobStatus.RUNNING,
                locked_by=worker,
                attempts=job.attempts + 1,
                updated_at=now,
                locked_until=now + timedelta(seconds=lease_seconds),
            )
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None, 0.05
        return (
            ClaimedJob(
                id=job.id or 0,
                lead_id=lead_id,
                kind=kind,
                attempts=job.attempts + 1,
                max_attempts=job.max_attempts,
                idempotency_key=job.idempotency_key,
                payload=dict(job.payload),
                worker=worker,
            ),
            None,
        )
