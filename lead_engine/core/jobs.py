"""Running claimed jobs in batches: the work outside any transaction, every outcome of a batch in one commit.

Each kind of job has a handler (built in one place, ``job_handlers.build_handlers``) and a retry policy;
an outside service a handler calls has a circuit breaker, so a service that is down is probed, not hammered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from lead_engine.core.errors import LeadEngineError, PermanentError, RetryableError
from lead_engine.core.leads import lock_leads
from lead_engine.core.models import Job, utcnow
from lead_engine.core.outbox import ClaimedJob, complete_jobs, held_jobs, kill_job, retry_job
from lead_engine.core.retry import CircuitBreaker, RetryPolicy
from lead_engine.core.statuses import JobStatus

logger = logging.getLogger(__name__)


class LeaseLostError(LeadEngineError):
    """Another worker took the job over (our lease ran out); our result is discarded."""


class ServiceDownError(RetryableError):
    """The job was not tried: its outside service is known to be down (the breaker is open)."""


class JobHandler(Protocol):
    """Does one kind of job, a batch at a time.

    ``prepare`` reads (or marks) what the batch needs in one transaction of its own and returns the input
    of each job's ``work``; ``work`` runs with no transaction open and raises RetryableError or
    PermanentError when it cannot finish; ``record`` writes a finished job's result. ``record``,
    ``on_retry`` and ``on_dead`` run in the batch's one transaction, with the batch's leads already locked
    (``held_lead`` finds them); when one of them raises, the batch is recorded again job by job.
    """

    policy: RetryPolicy
    # Set when ``work`` waits on the network (run on the I/O pool) rather than on the CPU.
    io_bound: bool
    breaker: CircuitBreaker | None

    def prepare(self, engine: Engine, jobs: list[ClaimedJob]) -> dict[int, Any]:
        """Per job id, the input of ``work``."""
        ...

    def work(self, job: ClaimedJob, item: Any) -> Any:
        """Do the job's work; its result goes to ``record``."""
        ...

    def record(self, session: Session, job: ClaimedJob, result: Any) -> None:
        """Write the result of a job that finished."""
        ...

    def on_retry(self, session: Session, job: ClaimedJob, error: str, delay: float) -> None:
        """Record that the job will be tried again."""
        ...

    def on_dead(self, session: Session, job: ClaimedJob, error: str) -> None:
        """Record that the job was given up."""
        ...


@dataclass
class Failure:
    """Why a job's work did not finish."""

    error: BaseException
    # Not the job's fault: the service was already known to be down (skipped, or a probe that failed).
    refund: bool = False


def _describe(error: BaseException) -> str:
    if isinstance(error, LeadEngineError):
        return str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}"


def _work(handler: JobHandler, job: ClaimedJob, item: Any) -> Any:
    breaker = handler.breaker
    if breaker is not None and not breaker.allows():
        return Failure(ServiceDownError(f"{breaker.describe()}: {breaker.last_error}"), refund=True)
    probe = breaker is not None and breaker.is_open
    try:
        result = handler.work(job, item)
    except RetryableError as exc:
        if breaker is not None:
            breaker.record_failure(_describe(exc))
        return Failure(exc, refund=probe)
    except Exception as exc:  # a bug in one job must not stop the batch
        if isinstance(exc, PermanentError) and breaker is not None:
            breaker.record_success()  # a final answer (a 4xx): the service is up, this job is what failed
        elif not isinstance(exc, LeadEngineError):
            logger.exception("job failed", extra={"action": "job.failed", "job_id": job.id, "kind": job.kind})
        return Failure(exc)
    if breaker is not None:
        breaker.record_success()
    return result


def run_batch(
    engine: Engine, handler: JobHandler, jobs: list[ClaimedJob], *, pool: Executor | None = None
) -> list[str]:
    """Run claimed jobs of one kind and record every outcome in one transaction; returns each job's next state.

    A job whose work or record fails fails alone; the rest of the batch is recorded. A database error while
    recording leaves the jobs to their leases: they run again when the leases run out.
    """
    try:
        items = handler.prepare(engine, jobs)
    except Exception as exc:  # the batch's reads failed: every job of it retries
        logger.exception("preparing a batch failed", extra={"action": "job.prepare_failed", "kind": jobs[0].kind})
        items, results = {}, {job.id: Failure(exc) for job in jobs}
    else:
        if pool is not None and handler.io_bound and len(jobs) > 1:
            futures = [pool.submit(_work, handler, job, items.get(job.id)) for job in jobs]
            results = {job.id: future.result() for job, future in zip(jobs, futures, strict=True)}
        else:
            results = {job.id: _work(handler, job, items.get(job.id)) for job in jobs}
    try:
        with Session(engine) as session, session.begin():
            return _record_batch(session, handler, jobs, results)
    except Exception:  # one job's record broke the batch (a bug, a constraint): each job again on its own
        logger.warning(
            "recording a batch failed; recording its jobs one by one",
            exc_info=True,
            extra={"action": "job.batch_split"},
        )
    return [state for job in jobs for state in _record_alone(engine, handler, job, results[job.id])]


def _record_alone(engine: Engine, handler: JobHandler, job: ClaimedJob, result: Any) -> list[str]:
    """Record one job's outcome in a transaction of its own; a failing record retries the job."""
    try:
        with Session(engine) as session, session.begin():
            return _record_batch(session, handler, [job], {job.id: result})
    except Exception as exc:
        if isinstance(result, Failure):
            raise
        logger.exception("recording a job failed", extra={"action": "job.record_failed", "job_id": job.id})
        failure = Failure(exc)
    with Session(engine) as session, session.begin():
        return _record_batch(session, handler, [job], {job.id: failure})


def _record_batch(session: Session, handler: JobHandler, jobs: list[ClaimedJob], results: dict[int, Any]) -> list[str]:
    held = held_jobs(session=session, jobs=jobs)
    # Every lead of the batch read and locked in one query; the handlers find them in the session, whose
    # identity map keeps them only while something refers to them: this does until the batch is recorded.
    _locked = lock_leads(session=session, lead_ids=[job.lead_id for job in jobs if job.id in held])
    states: list[str] = []
    done: list[int] = []
    for job in jobs:
        result = results[job.id]
        if job.id not in held:
            logger.warning("lease lost", extra={"action": "job.lease_lost", "job_id": job.id})
            states.append("lost")
        elif isinstance(result, Failure):
            states.append(_fail(session, handler, job, result))
        else:
            handler.record(session, job, result)
            done.append(job.id)
            states.append(JobStatus.DONE)
    complete_jobs(session=session, job_ids=done)
    return states


def _fail(session: Session, handler: JobHandler, job: ClaimedJob, failure: Failure) -> str:
    error = failure.error
    message = _describe(error)
    if failure.refund:
        # The service is down: the attempt is given back and the job waits for the breaker's next probe.
        if handler.breaker is not None and not isinstance(error, ServiceDownError):
            message = f"{handler.breaker.describe()}: {message}"
        wait = max(handler.breaker.seconds_to_probe() if handler.breaker else 0.0, 1.0)
        if retry_job(session=session, job=job, delay=wait, error=message, refund=True):
            handler.on_retry(session, job, message, wait)
        return JobStatus.QUEUED
    delay = None
    if not isinstance(error, PermanentError):
        retry_after = error.retry_after if isinstance(error, RetryableError) else None
        delay = handler.policy.delay(job.attempts, retry_after)
    if delay is None:
        if not isinstance(error, PermanentError):
            message = f"gave up after {job.attempts} attempts: {message}"
        if kill_job(session=session, job=job, error=message):
            handler.on_dead(session, job, message)
        logger.warning("job dead", extra={"action": "job.dead", "job_id": job.id, "kind": job.kind, "error": message})
        return JobStatus.DEAD
    if retry_job(session=session, job=job, delay=delay, error=message):
        handler.on_retry(session, job, message, delay)
    logger.info(
        "job will retry",
        extra={"action": "job.retry", "job_id": job.id, "kind": job.kind, "delay": round(delay, 2), "error": message},
    )
    return JobStatus.QUEUED


def resume_waiting(engine: Engine, kinds: Iterable[str]) -> int:
    """Make the queued jobs of these kinds due now (their service is back); returns how many."""
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(Job)
            .where(col(Job.kind).in_(list(kinds)), col(Job.status) == JobStatus.QUEUED, col(Job.run_after) > utcnow())
            .values(run_after=utcnow())
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


def group_by_kind(jobs: list[ClaimedJob]) -> dict[str, list[ClaimedJob]]:
    """Claimed jobs per kind, in claim order."""
    groups: dict[str, list[ClaimedJob]] = {}
    for job in jobs:
        groups.setdefault(job.kind, []).append(job)
    return groups


def run_claimed(
    engine: Engine, handlers: Mapping[str, JobHandler], jobs: list[ClaimedJob], *, pool: Executor | None = None
) -> list[str]:
    """Run claimed jobs of any kinds, a batch per kind; a kind without a handler is dead at once."""
    states: list[str] = []
    for kind, batch in group_by_kind(jobs).items():
        handler = handlers.get(kind)
        if handler is None:
            with Session(engine) as session, session.begin():
                for job in batch:
                    kill_job(session=session, job=job, error=f"no handler for job kind {kind!r}")
            states += [JobStatus.DEAD] * len(batch)
            continue
        states += run_batch(engine, handler, batch, pool=pool)
    return states
