"""The worker process: claims due jobs in batches and runs each batch's kind on its handler."""

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
from lead_engine.core.imports.lifecycle import claim_import
from lead_engine.core.imports.runner import run_import
from lead_engine.core.job_handlers import breakers, build_handlers
from lead_engine.core.jobs import group_by_kind, run_claimed
from lead_engine.core.models import utcnow
from lead_engine.core.outbound import outbound_http
from lead_engine.core.outbox import ClaimedJob, claim_jobs
from lead_engine.core.qualification.rules import rules_source
from lead_engine.core.rescoring import rescore_leads
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60.0
# Batches run at once: one can wait on the network while another parses.
BATCHES_IN_FLIGHT = 4
IMPORT_CHECK_SECONDS = 2.0


def _log_failure(future: Future[list[str]]) -> None:
    # run_batch records every job's own error; what reaches here (the database gone while recording a
    # batch) must at least be seen. Those jobs run again when their leases run out.
    error = future.exception()
    if error is not None:
        logger.error("recording a batch failed", exc_info=error, extra={"action": "worker.batch_crashed"})


def watch_sources(engine: Engine, settings: Settings) -> None:
    """Raise or clear the quiet-source alerts and tell Slack about new ones; a failure waits for the next round."""
    try:
        check_heartbeats(engine, settings, utcnow())
        send_alerts(engine, settings, outbound_http(settings, timeout=settings.notify_timeout))
    except Exception:  # the worker's outer loop: alerts must never stop the jobs
        logger.exception("checking the sources failed", extra={"action": "worker.heartbeat_failed"})


class RulesWatch:
    """Scores every lead again once the rules file changed (checked with the heartbeats)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.source = rules_source(settings.rules_file)
        self.seen = self.source.current()

    def check(self) -> None:
        """Re-score when the rules in force are not the ones last scored with; a failure tries again next time."""
        current = self.source.current()
        if current is self.seen:
            return
        try:
            rescore_leads(self.engine, self.settings, current)
            self.seen = current
        except Exception:  # the worker's outer loop: a re-score must never stop the jobs
            logger.exception("scoring leads again failed", extra={"action": "rules.rescore_failed"})


class ImportWatch:
    """Runs one spreadsheet import at a time beside the jobs, picked up within seconds of being queued."""

    def __init__(self, engine: Engine, settings: Settings, worker: str) -> None:
        self.engine, self.settings, self.worker = engine, settings, worker
        self.running: Future[bool] | None = None
        self.next_check = 0.0

    def check(self, pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        """Claim a queued import when none runs here; a failure tries again at the next check."""
        if (self.running is not None and not self.running.done()) or time.monotonic() < self.next_check:
            return
        self.next_check = time.monotonic() + IMPORT_CHECK_SECONDS
        try:
            with Session(self.engine) as session:
                import_id = claim_import(
                    session=session, worker=self.worker, lease_seconds=self.settings.job_lease_seconds
                )
        except Exception:  # the worker's outer loop: imports must never stop the jobs
            logger.exception("claiming an import failed", extra={"action": "worker.import_claim_failed"})
            return
        if import_id is not None:
            self.running = pool.submit(run_import, self.engine, self.settings, import_id, worker=self.worker, stop=stop)


def run_worker(settings: Settings, stop: threading.Event) -> None:
    """Run jobs until ``stop`` is set, then finish the batches in hand."""
    engine = get_engine(settings.database_url)
    run_migrations(engine)
    handlers = build_handlers(engine, settings)
    guarded = breakers(handlers)
    rules = RulesWatch(engine, settings)
    name = f"{socket.gethostname()}-{os.getpid()}"
    imports = ImportWatch(engine, settings, name)
    in_flight: set[Future[list[str]]] = set()
    logger.info("worker started", extra={"action": "worker.started", "worker": name})
    next_heartbeat = time.monotonic()
    with (
        ThreadPoolExecutor(max_workers=settings.worker_concurrency, thread_name_prefix="call") as io_pool,
        ThreadPoolExecutor(max_workers=BATCHES_IN_FLIGHT, thread_name_prefix="batch") as batch_pool,
        # Parsing batches one after another: under one interpreter lock a second would only slow the first
        # one's write transaction down, and every writer waits for it.
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="cpu") as cpu_pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="import") as import_pool,
    ):
        while not stop.is_set():
            imports.check(import_pool, stop)
            if time.monotonic() >= next_heartbeat:
                watch_sources(engine, settings)
                rules.check()
                next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
            in_flight = {future for future in in_flight if not future.done()}
            claimed: list[ClaimedJob] = []
            if len(in_flight) < BATCHES_IN_FLIGHT:
                # A service that is down gets no jobs, only one probe each time its breaker lets one through.
                down = [kinds for breaker, kinds in guarded.items() if breaker.is_open]
                probes = [
                    kinds for breaker, kinds in guarded.items() if breaker.is_open and not breaker.seconds_to_probe()
                ]
                try:
                    with Session(engine) as session:
                        claimed = claim_jobs(
                            session=session,
                            worker=name,
                            limit=settings.worker_batch_size,
                            lease_seconds=settings.job_lease_seconds,
                            skip_kinds=[kind for kinds in down for kind in kinds],
                        )
                        for kinds in probes:
                            claimed += claim_jobs(
                                session=session,
                                worker=name,
                                limit=1,
                                lease_seconds=settings.job_lease_seconds,
                                kinds=kinds,
                            )
                except Exception:  # a database hiccup must not end the worker
                    logger.exception("claiming jobs failed", extra={"action": "worker.claim_failed"})
            for kind, batch in group_by_kind(claimed).items():
                handler = handlers.get(kind)
                runner = batch_pool if handler is None or handler.io_bound else cpu_pool
                future = runner.submit(run_claimed, engine, handlers, batch, pool=io_pool)
                future.add_done_callback(_log_failure)
                in_flight.add(future)
            if len(in_flight) >= BATCHES_IN_FLIGHT or (in_flight and not claimed):
                # Claim again as soon as a batch finishes, not after a poll interval.
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
