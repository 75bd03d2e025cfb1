"""The job table: one claimer per job, leases that expire, retries with backoff, dead letters."""

from __future__ import annotations

import json
import threading
from collections import Counter

from sqlalchemy import Engine, select
from sqlmodel import Session

from lead_engine.core.errors import PermanentError, RetryableError
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch
from lead_engine.core.jobs import JobContext, execute_job, register_handler
from lead_engine.core.models import Job, utcnow
from lead_engine.core.outbox import ClaimedJob, backoff_delay, claim_jobs, complete_job, enqueue_job, retry_job
from lead_engine.core.settings import Settings


def _leads(engine: Engine, count: int) -> list[str]:
    items = [
        prepare_ingest("application/json", json.dumps({"subject": f"lead {n}", "raw_body": f"body {n}"}).encode())
        for n in range(count)
    ]
    return [outcome.lead_id for outcome in write_batch(engine, items)]  # type: ignore[union-attr]


def _enqueue(engine: Engine, lead_ids: list[str], kind: str, max_attempts: int = 3) -> None:
    with Session(engine) as session:
        for lead_id in lead_ids:
            enqueue_job(
                session=session, lead_id=lead_id, kind=kind, idempotency_key=f"k-{lead_id}", max_attempts=max_attempts
            )
        session.commit()


def _jobs(engine: Engine, kind: str) -> list[Job]:
    with Session(engine) as session:
        return list(session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))  # type: ignore[arg-type]


class ScriptedHandler:
    """A real handler whose outcome per run is scripted, recording what the runner told it."""

    def __init__(self, outcomes: list[BaseException | None]) -> None:
        self.outcomes = outcomes
        self.retries: list[float] = []
        self.dead: list[str] = []

    def run(self, ctx: JobContext) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        with ctx.finish():
            pass

    def on_retry(self, session: Session, ctx: JobContext, error: str, delay: float) -> None:
        self.retries.append(delay)

    def on_dead(self, session: Session, ctx: JobContext, error: str) -> None:
        self.dead.append(error)


def test_enqueue_keeps_one_waiting_job_per_lead_and_kind(engine: Engine) -> None:
    lead_id = _leads(engine, 1)[0]
    _enqueue(engine, [lead_id, lead_id], "test-kind")
    assert len(_jobs(engine, "test-kind")) == 1


def _claim(engine: Engine, kind: str, worker: str = "w") -> list[ClaimedJob]:
    with Session(engine) as session:
        claimed = claim_jobs(session=session, worker=worker, limit=10, lease_seconds=60)
    return [job for job in claimed if job.kind == kind]


def test_enqueue_during_a_run_queues_a_follow_up_that_waits_for_it(engine: Engine) -> None:
    lead_id = _leads(engine, 1)[0]
    _enqueue(engine, [lead_id], "test-kind")
    [running] = _claim(engine, "test-kind", "a")
    _enqueue(engine, [lead_id], "test-kind")  # e.g. a resync after a correction, while the sync runs
    assert [job.status for job in _jobs(engine, "test-kind")] == ["running", "queued"]
    assert _claim(engine, "test-kind", "b") == []  # never two of a lead's kind at once
    with Session(engine) as session, session.begin():
        assert complete_job(session=session, job=running, worker="a")
    [follow_up] = _claim(engine, "test-kind", "b")
    assert follow_up.id != running.id


def test_retry_while_a_follow_up_waits_leaves_the_work_to_it(engine: Engine) -> None:
    lead_id = _leads(engine, 1)[0]
    _enqueue(engine, [lead_id], "test-kind")
    [running] = _claim(engine, "test-kind", "a")
    _enqueue(engine, [lead_id], "test-kind")
    with Session(engine) as session, session.begin():
        assert retry_job(session=session, job=running, worker="a", delay=0, error="503")
    first, follow_up = _jobs(engine, "test-kind")
    assert (first.status, first.last_error) == ("done", "superseded by a newer job: 503")
    assert follow_up.status == "queued"


def test_concurrent_claimers_never_share_a_job(engine: Engine) -> None:
    lead_ids = _leads(engine, 60)
    _enqueue(engine, lead_ids, "test-kind")
    claimed: list[int] = []
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        while True:
            with Session(engine) as session:
                jobs = claim_jobs(session=session, worker=worker, limit=3, lease_seconds=60)
            jobs = [job for job in jobs if job.kind == "test-kind"]
            if not jobs:
                with Session(engine) as session:
                    left = session.scalars(select(Job).where(Job.kind == "test-kind", Job.status == "queued")).all()
                if not left:
                    return
                continue
            with lock:
                claimed.extend(job.id for job in jobs)

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert len(claimed) == 60


def test_expired_lease_is_claimed_again_and_the_first_holder_loses_it(engine: Engine) -> None:
    lead_id = _leads(engine, 1)[0]
    _enqueue(engine, [lead_id], "test-kind")
    with Session(engine) as session:
        first = [
            job
            for job in claim_jobs(session=session, worker="a", limit=10, lease_seconds=-1)
            if job.kind == "test-kind"
        ]
    with Session(engine) as session:
        second = [
            job
            for job in claim_jobs(session=session, worker="b", limit=10, lease_seconds=60)
            if job.kind == "test-kind"
        ]
    assert [job.id for job in first] == [job.id for job in second]
    assert second[0].attempts == 2
    with Session(engine) as session, session.begin():
        assert complete_job(session=session, job=first[0], worker="a") is False
        assert complete_job(session=session, job=second[0], worker="b") is True


def test_retryable_failures_back_off_then_succeed(engine: Engine, settings: Settings) -> None:
    handler = ScriptedHandler([RetryableError("503 from upstream", retry_after=0.0), None])
    register_handler("scripted-ok", handler)
    lead_id = _leads(engine, 1)[0]
    _enqueue(engine, [lead_id], "scripted-ok")
    fast = settings.model_copy(update={"sync_backoff_base": 0.0})
    for expected in ("queued", "done"):
        with Session(engine) as session:
            job = next(
                job
                for job in claim_jobs(session=session, worker="w", limit=10, lease_seconds=60)
                if job.kind == "scripted-ok"
            )
        assert execute_job(JobContext(engine=engine, settings=fast, job=job, worker="w")) == expected
    [stored] = _jobs(engine, "scripted-ok")
    assert (stored.status, stored.attempts, len(handler.retries)) == ("done", 2, 1)


def test_exhausted_retries_and_permanent_errors_end_dead(engine: Engine, settings: Settings) -> None:
    flaky = ScriptedHandler([RetryableError("timeout")] * 5)
    final = ScriptedHandler([PermanentError("400 bad company")])
    register_handler("scripted-flaky", flaky)
    register_handler("scripted-final", final)
    lead_ids = _leads(engine, 2)
    _enqueue(engine, lead_ids[:1], "scripted-flaky", max_attempts=2)
    _enqueue(engine, lead_ids[1:], "scripted-final", max_attempts=5)
    fast = settings.model_copy(update={"sync_backoff_base": 0.0})
    outcomes = []
    for _ in range(3):
        with Session(engine) as session:
            jobs = [
                job
                for job in claim_jobs(session=session, worker="w", limit=10, lease_seconds=60)
                if job.kind.startswith("scripted-")
            ]
        outcomes += [execute_job(JobContext(engine=engine, settings=fast, job=job, worker="w")) for job in jobs]
    assert sorted(outcomes) == ["dead", "dead", "queued"]
    [flaky_job] = _jobs(engine, "scripted-flaky")
    [final_job] = _jobs(engine, "scripted-final")
    assert flaky_job.status == "dead" and "gave up after 2 attempts: timeout" in (flaky_job.last_error or "")
    assert final_job.status == "dead" and final_job.attempts == 1 and final_job.last_error == "400 bad company"
    assert len(flaky.dead) == 1 and final.dead == ["400 bad company"]


def test_backoff_grows_and_honours_retry_after() -> None:
    caps = [max(backoff_delay(attempt, base=1.0, cap=60.0) for _ in range(200)) for attempt in (1, 3, 6, 10)]
    assert caps[0] <= 1.0 < caps[1] <= 4.0 < caps[2] <= 32.0 < caps[3] <= 60.0
    assert backoff_delay(1, base=1.0, cap=60.0, retry_after=30) >= 30
    assert backoff_delay(1, base=1.0, cap=60.0, retry_after=3600) == 60.0


def test_claim_skips_jobs_not_yet_due(engine: Engine) -> None:
    lead_id = _leads(engine, 1)[0]
    with Session(engine) as session:
        enqueue_job(
            session=session, lead_id=lead_id, kind="later", idempotency_key="x", run_after=utcnow().replace(year=2999)
        )
        session.commit()
    with Session(engine) as session:
        assert not [
            job for job in claim_jobs(session=session, worker="w", limit=10, lease_seconds=60) if job.kind == "later"
        ]
