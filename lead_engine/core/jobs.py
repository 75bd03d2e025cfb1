"""Running one claimed job: its handler, then done, retry with backoff, or dead — each in one transaction."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.errors import LeadEngineError, PermanentError, RetryableError
from lead_engine.core.outbox import ClaimedJob, backoff_delay, claim_jobs, complete_job, kill_job, retry_job
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)


class LeaseLostError(LeadEngineError):
    """Another worker took the job over (our lease ran out); our result is discarded."""


@dataclass
class JobContext:
    """What a handler gets: the job, where to write, the settings, and who is running it."""

    engine: Engine
    settings: Settings
    job: ClaimedJob
    worker: str

    @contextmanager
    def finish(self) -> Iterator[Session]:
        """A write transaction in which the handler records its result; the job is marked done in it too."""
        with Session(self.engine) as session, session.begin():
            yield session
            if not complete_job(session=session, job=self.job, worker=self.worker):
                raise LeaseLostError(f"job {self.job.id} is no longer held by {self.worker}")


class JobHandler(Protocol):
    """Does one kind of job; raises RetryableError or PermanentError when it cannot finish."""

    def run(self, ctx: JobContext) -> None:
        """Do the work and record the result inside ``ctx.finish()``."""

    def on_retry(self, session: Session, ctx: JobContext, error: str, delay: float) -> None:
        """Record that the job will be tried again (same transaction as the reschedule)."""

    def on_dead(self, session: Session, ctx: JobContext, error: str) -> None:
        """Record that the job was given up (same transaction as marking it dead)."""


HANDLERS: dict[str, JobHandler] = {}
# Each of these registers its handlers when imported; they import this module, so they are loaded lazily.
HANDLER_MODULES = ("lead_engine.core.processing", "lead_engine.core.sync", "lead_engine.core.notifications")


def register_handler(kind: str, handler: JobHandler) -> None:
    """Make ``handler`` run the jobs of ``kind``."""
    HANDLERS[kind] = handler


def execute_job(ctx: JobContext) -> str:
    """Run one claimed job to its next state and return that state: done, queued or dead."""
    job = ctx.job
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    handler = HANDLERS.get(job.kind)
    if handler is None:
        return _give_up(ctx, None, f"no handler for job kind {job.kind!r}")
    try:
        handler.run(ctx)
        return "done"
    except LeaseLostError:
        logger.warning("lease lost", extra={"action": "job.lease_lost", "job_id": job.id})
        return "lost"
    except PermanentError as exc:
        return _give_up(ctx, handler, str(exc) or type(exc).__name__)
    except RetryableError as exc:
        return _retry_or_give_up(ctx, handler, str(exc) or type(exc).__name__, exc.retry_after)
    except Exception as exc:  # a bug in one job must not stop the worker
        logger.exception("job failed", extra={"action": "job.failed", "job_id": job.id, "kind": job.kind})
        return _retry_or_give_up(ctx, handler, f"{type(exc).__name__}: {exc}", None)


def _retry_or_give_up(ctx: JobContext, handler: JobHandler, error: str, retry_after: float | None) -> str:
    job = ctx.job
    if job.attempts >= job.max_attempts:
        return _give_up(ctx, handler, f"gave up after {job.attempts} attempts: {error}")
    delay = backoff_delay(
        job.attempts, base=ctx.settings.sync_backoff_base, cap=ctx.settings.sync_backoff_max, retry_after=retry_after
    )
    with Session(ctx.engine) as session, session.begin():
        if retry_job(session=session, job=job, worker=ctx.worker, delay=delay, error=error):
            handler.on_retry(session, ctx, error, delay)
    logger.info(
        "job will retry",
        extra={"action": "job.retry", "job_id": job.id, "kind": job.kind, "delay": round(delay, 2), "error": error},
    )
    return "queued"


def _give_up(ctx: JobContext, handler: JobHandler | None, error: str) -> str:
    with Session(ctx.engine) as session, session.begin():
        if kill_job(session=session, job=ctx.job, worker=ctx.worker, error=error) and handler is not None:
            handler.on_dead(session, ctx, error)
    logger.warning("job dead", extra={"action": "job.dead", "job_id": ctx.job.id, "kind": ctx.job.kind, "error": error})
    return "dead"


def run_due_jobs(engine: Engine, settings: Settings, *, worker: str = "inline", limit: int = 100) -> int:
    """Claim and run due jobs one after another until none is due; returns how many ran."""
    ran = 0
    while ran < limit:
        with Session(engine) as session:
            claimed = claim_jobs(session=session, worker=worker, limit=1, lease_seconds=settings.job_lease_seconds)
        if not claimed:
            return ran
        execute_job(JobContext(engine=engine, settings=settings, job=claimed[0], worker=worker))
        ran += 1
    return ran
