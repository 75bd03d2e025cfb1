"""The worker process: claims due jobs from the database and runs them on a thread pool."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.alerts import send_alerts
from lead_engine.core.db import get_engine, run_migrations
from lead_engine.core.heartbeat import check_heartbeats
from lead_engine.core.jobs import JobContext, execute_job
from lead_engine.core.models import utcnow
from lead_engine.core.notifications import shared_http
from lead_engine.core.outbox import claim_jobs
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60.0


def _log_failure(future: Future[str]) -> None:
    # execute_job handles every job error itself; what reaches here (the database gone while recording a
    # retry) must at least be seen. The job is run again when its lease runs out.
    error = future.exception()
    if error is not None:
        logger.error("recording a job's outcome failed", exc_info=error, extra={"action": "worker.job_crashed"})


def watch_sources(engine: Engine, settings: Settings) -> None:
    """Raise or clear the quiet-source alerts and tell Slack about new ones; a failure waits for the next round."""
    try:
        check_heartbeats(engine, settings, utcnow())
        send_alerts(engine, settings, shared_http(settings.notify_timeout))
    except Exception:  # the worker's outer loop: alerts must never stop the jobs
        logger.exception("checking the sources failed", extra={"action": "worker.heartbeat_failed"})


def run_worker(settings: Settings, stop: threading.Event) -> None:
    """Run jobs until ``stop`` is set, then finish the ones in hand."""
    engine = get_engine(settings.database_url)
    run_migrations(engine)
    name = f"{socket.gethostname()}-{os.getpid()}"
    in_flight: set[Future[str]] = set()
    logger.info("worker started", extra={"action": "worker.started", "worker": name})
    next_heartbeat = time.monotonic()
    with ThreadPoolExecutor(max_workers=settings.worker_concurrency, thread_name_prefix="job") as pool:
        while not stop.is_set():
            if time.monotonic() >= next_heartbeat:
                watch_sources(engine, settings)
                next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
            in_flight = {future for future in in_flight if not future.done()}
            free = settings.worker_concurrency - len(in_flight)
            claimed = []
            if free > 0:
                try:
                    with Session(engine) as session:
                        claimed = claim_jobs(
                            session=session, worker=name, limit=free, lease_seconds=settings.job_lease_seconds
                        )
                except Exception:  # a database hiccup must not end the worker
                    logger.exception("claiming jobs failed", extra={"action": "worker.claim_failed"})
            for job in claimed:
                ctx = JobContext(engine=engine, settings=settings, job=job, worker=name)
                future = pool.submit(execute_job, ctx)
                future.add_done_callback(_log_failure)
                in_flight.add(future)
            if free <= len(claimed):
                # Every thread is busy: claim again as soon as one finishes, not after a poll interval.
                wait(in_flight, timeout=settings.worker_poll_seconds, return_when=FIRST_COMPLETED)
            elif not claimed:
                stop.wait(settings.worker_poll_seconds)
    logger.info("worker stopped", extra={"action": "worker.stopped", "worker": name})


def main(settings: Settings) -> None:
    """Run the worker until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_worker(settings, stop)
