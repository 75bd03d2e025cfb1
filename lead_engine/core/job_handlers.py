"""The one place that knows every kind of job: the handlers a worker runs, and running due jobs inline."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.alerts import clear_alert, raise_alert
from lead_engine.core.job_kinds import PROCESS_JOB, SYNC_JOB
from lead_engine.core.jobs import JobHandler, resume_waiting, run_claimed
from lead_engine.core.notifications import notify_handlers
from lead_engine.core.outbox import claim_jobs
from lead_engine.core.processing import ProcessHandler
from lead_engine.core.retry import CircuitBreaker
from lead_engine.core.settings import Settings
from lead_engine.core.sync import SyncHandler


def service_alert_key(service: str) -> str:
    """The operator alert raised while an outside service is down."""
    return f"service_down:{service.lower().replace(' ', '_')}"


def watch_breaker(engine: Engine, breaker: CircuitBreaker, kinds: list[str]) -> None:
    """While the service is down, one operator alert; when it is back, the alert cleared and its jobs due now."""

    def opened(breaker: CircuitBreaker) -> None:
        message = (
            f"{breaker.describe()} ({breaker.last_error[:200]}). Leads wait and are sent when it answers "
            f"again; it is tried every {breaker.probe_seconds:g}–{breaker.max_probe_seconds:g} s."
        )
        raise_alert(engine, service_alert_key(breaker.service), message)

    def closed(breaker: CircuitBreaker) -> None:
        clear_alert(engine, service_alert_key(breaker.service))
        resume_waiting(engine, kinds)

    breaker.on_open, breaker.on_close = opened, closed


def build_handlers(engine: Engine, settings: Settings) -> dict[str, JobHandler]:
    """Every job kind's handler, each outside service with one breaker that tells the operator."""
    company_explorer = CircuitBreaker.for_service("Company Explorer", settings)
    handlers: dict[str, JobHandler] = {
        PROCESS_JOB: ProcessHandler(settings),
        SYNC_JOB: SyncHandler(engine, settings, company_explorer),
        **notify_handlers(settings),
    }
    for breaker, kinds in breakers(handlers).items():
        watch_breaker(engine, breaker, kinds)
    return handlers


def breakers(handlers: Mapping[str, JobHandler]) -> dict[CircuitBreaker, list[str]]:
    """Each breaker and the job kinds it guards."""
    guarded: dict[CircuitBreaker, list[str]] = {}
    for kind, handler in handlers.items():
        if handler.breaker is not None:
            guarded.setdefault(handler.breaker, []).append(kind)
    return guarded


def run_due_jobs(
    engine: Engine,
    settings: Settings,
    *,
    handlers: Mapping[str, JobHandler] | None = None,
    worker: str = "inline",
    limit: int = 1000,
) -> int:
    """Claim and run due jobs in this thread, a batch at a time, until none is due; returns how many ran."""
    handlers = handlers if handlers is not None else build_handlers(engine, settings)
    ran = 0
    while ran < limit:
        with Session(engine) as session:
            claimed = claim_jobs(
                session=session,
                worker=worker,
                limit=min(settings.worker_batch_size, limit - ran),
                lease_seconds=settings.job_lease_seconds,
            )
        if not claimed:
            return ran
        run_claimed(engine, handlers, claimed)
        ran += len(claimed)
    return ran
