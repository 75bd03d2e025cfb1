"""Running claimed jobs in batches: the work outside any transaction, every outcome of a batch in one commit.

Each kind of job has a handler (built in one place, ``job_handlers.build_handlers``) and a retry policy;
an outside service a handler calls has a circuit breaker, so a service that is down is probed, not hammered.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from lead_engine.core.errors import LeadEngineError, PermanentError, RetryableError
from lead_engine.core.models import Job, utcnow
from lead_engine.core.outbox import ClaimedJob, complete_job, kill_job, retry_job
from lead_engine.core.statuses import JobStatus

logger = logging.getLogger(__name__)

# A Retry-After longer than this is not obeyed to the second: the schedule's own wait applies.
RETRY_AFTER_MAX_SECONDS = 6 * 3600.0


class LeaseLostError(LeadEngineError):
    """Another worker took the job over (our lease ran out); our result is discarded."""


class ServiceDownError(RetryableError):
    """The job was not tried: its outside service is known to be down (the breaker is open)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of job is retried: the wait after each failed attempt, then dead.

    ``schedule[n]`` is the wait after attempt n + 1 fails, so a job gets ``len(schedule) + 1`` attempts. Each
    wait varies by ±``jitter`` so jobs that failed together do not come back together; a server's
    Retry-After is honoured when it asks for longer (up to six hours).
    """

    schedule: tuple[float, ...]
    jitter: float = 0.2

    @property
    def max_attempts(self) -> int:
        """Attempts before the job is dead."""
        return len(self.schedule) + 1

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), or None when it was the last."""
        if attempt > len(self.schedule):
            return None
        wait = self.schedule[attempt - 1] * random.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            wait = max(wait, min(retry_after, RETRY_AFTER_MAX_SECONDS))
        return wait

    def total_seconds(self) -> float:
        """How long the schedule retries for, without jitter."""
        return sum(self.schedule)


@dataclass(eq=False)
class CircuitBreaker:
    """One outside service's health as this process sees it: closed (calls go), open (only probes go).

    After ``threshold`` consecutive failed attempts it opens; then one probe is let through every
    ``probe_seconds`` (doubling up to ``max_probe_seconds``) until one succeeds and closes it.
    """

    service: str
    threshold: int = 5
    probe_seconds: float = 5.0
    max_probe_seconds: float = 60.0
    failures: int = 0
    down_since: datetime | None = None
    next_probe: float = 0.0
    probe_wait: float = 0.0
    last_error: str = ""
    # Told when the service goes down and when it is back (raise and clear the operator alert).
    on_open: Callable[[CircuitBreaker], None] | None = None
    on_close: Callable[[CircuitBreaker], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_open(self) -> bool:
        """Whether the service counts as down."""
        return self.down_since is not None

    def allows(self) -> bool:
        """Whether a call may go out now; while open, the first caller after each probe interval is the probe."""
        with self._lock:
            if self.down_since is None:
                return True
            now = time.monotonic()
            if now < self.next_probe:
                return False
            self.probe_wait = min(max(self.probe_wait * 2, self.probe_seconds), self.max_probe_seconds)
            self.next_probe = now + self.probe_wait
            return True

    def seconds_to_probe(self) -> float:
        """Seconds until the next probe may go out (0 when closed)."""
        return max(0.0, self.next_probe - time.monotonic()) if self.is_open else 0.0

    def record_failure(self, error: str) -> bool:
        """Count a failed attempt; True when this one opened the breaker."""
        with self._lock:
            self.failures += 1
            self.last_error = error
            if self.down_since is not None or self.failures < self.threshold:
                return False
            self.down_since = utcnow()
            self.probe_wait = self.probe_seconds
            self.next_probe = time.monotonic() + self.probe_wait
        logger.warning(
            "%s counts as down after %d failed attempts in a row",
            self.service,
            self.failures,
            extra={"action": "breaker.opened", "service": self.service, "error": error[:300]},
        )
        self._tell(self.on_open)
        return True

    def record_success(self) -> bool:
        """The service answered; True when this closed an open breaker."""
        with self._lock:
            was_open = self.down_since is not None
            self.failures, self.down_since, self.probe_wait = 0, None, 0.0
        if was_open:
            logger.info("%s answers again", self.service, extra={"action": "breaker.closed", "service": self.service})
            self._tell(self.on_close)
        return was_open

    def _tell(self, listener: Callable[[CircuitBreaker], None] | None) -> None:
        if listener is None:
            return
        try:
            listener(self)
        except Exception:  # the alert is a courtesy: the jobs go on without it
            logger.exception("telling about %s failed", self.service, extra={"action": "breaker.listener_failed"})

    def describe(self) -> str:
        """'Company Explorer unreachable since 14:02 UTC' while open, else ''."""
        if self.down_since is None:
            return ""
        return f"{self.service} unreachable since {self.down_since:%Y-%m-%d %H:%M} UTC"


class JobHandler(Protocol):
    """Does one kind of job, a batch at a time.

    ``prepare`` reads (or marks) what the batch needs in one transaction of its own and returns the input
    of each job's ``work``; ``work`` runs with no transaction open and raises RetryableError or
    PermanentError when it cannot finish; ``record`` writes a finished job's result. ``record``,
    ``on_retry`` and ``on_dead`` run in the batch's one transaction, each job in a savepoint of its own.
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
        if not isinstance(exc, LeadEngineError):
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
    states: list[str] = []
    with Session(engine) as session, session.begin():
        for job in jobs:
            states.append(_record(session, handler, job, results[job.id]))
    return states


def _record(session: Session, handler: JobHandler, job: ClaimedJob, result: Any) -> str:
    if not isinstance(result, Failure):
        try:
            with session.begin_nested():
                handler.record(session, job, result)
                if not complete_job(session=session, job=job):
                    raise LeaseLostError(f"job {job.id} is no longer held by {job.worker}")
            return JobStatus.DONE
        except LeaseLostError:
            logger.warning("lease lost", extra={"action": "job.lease_lost", "job_id": job.id})
            return "lost"
        except Exception as exc:  # recording this job's result failed: it alone is retried
            logger.exception("recording a job failed", extra={"action": "job.record_failed", "job_id": job.id})
            result = Failure(exc)
    return _fail(session, handler, job, result)


def _fail(session: Session, handler: JobHandler, job: ClaimedJob, failure: Failure) -> str:
    error = failure.error
    message = _describe(error)
    if failure.refund:
        # The service is down: the attempt is given back and the job waits for the breaker's next probe.
        if handler.breaker is not None and not isinstance(error, ServiceDownError):
            message = f"{handler.breaker.describe()}: {message}"
        wait = handler.breaker.seconds_to_probe() if handler.breaker else 1.0
        with session.begin_nested():
            if retry_job(session=session, job=job, delay=max(wait, 1.0), error=message, refund=True):
                handler.on_retry(session, job, message, wait)
        return JobStatus.QUEUED
    delay = None
    if not isinstance(error, PermanentError):
        retry_after = error.retry_after if isinstance(error, RetryableError) else None
        delay = handler.policy.delay(job.attempts, retry_after)
    with session.begin_nested():
        if delay is None:
            if not isinstance(error, PermanentError):
                message = f"gave up after {job.attempts} attempts: {message}"
            if kill_job(session=session, job=job, error=message):
                handler.on_dead(session, job, message)
            logger.warning(
                "job dead", extra={"action": "job.dead", "job_id": job.id, "kind": job.kind, "error": message}
            )
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


def schedule_until(total_seconds: float, steps: tuple[float, ...]) -> tuple[float, ...]:
    """``steps``, then the last step repeated, until the waits add up to ``total_seconds``."""
    schedule: list[float] = []
    for step in (*steps, *[steps[-1]] * 10_000):
        if sum(schedule) >= total_seconds:
            break
        schedule.append(step)
    return tuple(schedule)


def retry_call(
    call: Callable[[], Any], *, retries: int, backoff: float, retry_after_max: float, breaker: CircuitBreaker | None
) -> Any:
    """Make one outside call, trying a passing failure again up to ``retries`` times within the attempt.

    Waits ``backoff``, then four times that (with jitter), or what Retry-After asks up to ``retry_after_max``;
    a breaker that opened meanwhile ends the retries.
    """
    for tried in range(retries + 1):
        try:
            return call()
        except RetryableError as exc:
            if tried == retries or (breaker is not None and breaker.is_open):
                raise
            wait = backoff * 4**tried * random.uniform(0.5, 1.0)
            if exc.retry_after is not None:
                if exc.retry_after > retry_after_max:
                    raise
                wait = max(wait, exc.retry_after)
            time.sleep(wait)
    raise AssertionError("unreachable")


def due_in(seconds: float) -> datetime:
    """The time ``seconds`` from now."""
    return utcnow() + timedelta(seconds=seconds)
