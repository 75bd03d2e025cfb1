"""The job table: one claimer per job, leases that expire, retries with backoff, dead letters."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select, text
from sqlmodel import Session

from lead_engine.core.errors import PermanentError, RetryableError
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch
from lead_engine.core.jobs import resume_waiting, run_batch
from lead_engine.core.leads import record_event
from lead_engine.core.models import Job, LeadEvent, utcnow
from lead_engine.core.outbox import ClaimedJob, claim_jobs, complete_job, due_jobs, enqueue_job, retry_job
from lead_engine.core.retry import CircuitBreaker, RetryPolicy, schedule_until
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
    """A real handler whose outcome per job (by lead) is scripted, recording what the runner told it.

    ``outcomes[lead_id]`` lists what each attempt does: None succeeds, an exception is raised from ``work``;
    ``broken_records`` are leads whose ``record`` fails.
    """

    io_bound = False

    def __init__(
        self,
        outcomes: dict[str, list[BaseException | None]] | None = None,
        *,
        schedule: tuple[float, ...] = (0.0, 0.0),
        breaker: CircuitBreaker | None = None,
        broken_records: tuple[str, ...] = (),
    ) -> None:
        self.outcomes = outcomes or {}
        self.policy = RetryPolicy(schedule=schedule, jitter=0.0)
        self.breaker = breaker
        self.broken_records = broken_records
        # While set, every job's work raises it (the outside service is down).
        self.outage: BaseException | None = None
        self.worked: list[str] = []
        self.recorded: list[str] = []
        self.retries: list[tuple[str, float]] = []
        self.dead: list[str] = []

    def prepare(self, engine: Engine, jobs: list[ClaimedJob]) -> dict[int, str]:
        return {job.id: job.lead_id for job in jobs}

    def work(self, job: ClaimedJob, lead_id: str) -> str:
        self.worked.append(lead_id)
        if self.outage is not None:
            raise self.outage
        script = self.outcomes.get(lead_id, [])
        outcome = script.pop(0) if script else None
        if outcome is not None:
            raise outcome
        return lead_id

    def record(self, session: Session, job: ClaimedJob, lead_id: str) -> None:
        if lead_id in self.broken_records:
            session.execute(text("SELECT * FROM no_such_table"))
        record_event(session=session, lead_id=lead_id, action="scripted_done")
        self.recorded.append(lead_id)

    def on_retry(self, session: Session, job: ClaimedJob, error: str, delay: float) -> None:
        self.retries.append((error, delay))

    def on_dead(self, session: Session, job: ClaimedJob, error: str) -> None:
        self.dead.append(error)


def _run(engine: Engine, handler: ScriptedHandler, kind: str, worker: str = "w") -> list[str]:
    """Claim the due jobs of ``kind`` and run them as one batch; returns each job's next state."""
    with Session(engine) as session:
        jobs = claim_jobs(session=session, worker=worker, limit=100, lease_seconds=60, kinds=[kind])
    return run_batch(engine, handler, jobs) if jobs else []


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
        assert complete_job(session=session, job=running)
    [follow_up] = _claim(engine, "test-kind", "b")
    assert follow_up.id != running.id


def test_retry_while_a_follow_up_waits_leaves_the_work_to_it(engine: Engine) -> None:
    lead_id = _leads(engine, 1)[0]
    _enqueue(engine, [lead_id], "test-kind")
    [running] = _claim(engine, "test-kind", "a")
    _enqueue(engine, [lead_id], "test-kind")
    with Session(engine) as session, session.begin():
        assert retry_job(session=session, job=running, delay=0, error="503")
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
        assert complete_job(session=session, job=first[0]) is False
        assert complete_job(session=session, job=second[0]) is True


def test_retryable_failures_back_off_then_succeed(engine: Engine) -> None:
    [lead_id] = _leads(engine, 1)
    handler = ScriptedHandler({lead_id: [RetryableError("503 from upstream", retry_after=0.0)]})
    _enqueue(engine, [lead_id], "scripted")
    assert _run(engine, handler, "scripted") == ["queued"]
    assert _run(engine, handler, "scripted") == ["done"]
    [stored] = _jobs(engine, "scripted")
    assert (stored.status, stored.attempts, len(handler.retries)) == ("done", 2, 1)


def test_exhausted_retries_and_permanent_errors_end_dead(engine: Engine) -> None:
    flaky_lead, final_lead = _leads(engine, 2)
    handler = ScriptedHandler(
        {flaky_lead: [RetryableError("timeout")] * 5, final_lead: [PermanentError("400 bad company")]}, schedule=(0.0,)
    )
    _enqueue(engine, [flaky_lead, final_lead], "scripted")
    assert sorted(_run(engine, handler, "scripted")) == ["dead", "queued"]
    assert _run(engine, handler, "scripted") == ["dead"]
    flaky_job, final_job = sorted(_jobs(engine, "scripted"), key=lambda job: job.lead_id != flaky_lead)
    assert flaky_job.status == "dead" and "gave up after 2 attempts: timeout" in (flaky_job.last_error or "")
    assert final_job.status == "dead" and final_job.attempts == 1 and final_job.last_error == "400 bad company"
    assert sorted(handler.dead) == ["400 bad company", "gave up after 2 attempts: timeout"]


def test_a_failing_job_in_a_batch_fails_only_itself(engine: Engine) -> None:
    lead_ids = _leads(engine, 6)
    crashing, refused, broken = lead_ids[1], lead_ids[3], lead_ids[4]
    handler = ScriptedHandler(
        {crashing: [ZeroDivisionError("a bug")], refused: [PermanentError("refused")]}, broken_records=(broken,)
    )
    _enqueue(engine, lead_ids, "scripted")
    states = dict(zip(lead_ids, _run(engine, handler, "scripted"), strict=True))
    assert states == {
        lead_ids[0]: "done",
        crashing: "queued",  # an unexpected error is retried on the schedule
        lead_ids[2]: "done",
        refused: "dead",
        broken: "queued",  # its record failed: only its savepoint was rolled back
        lead_ids[5]: "done",
    }
    with Session(engine) as session:
        done = session.scalars(select(LeadEvent.lead_id).where(LeadEvent.action == "scripted_done")).all()
    assert sorted(done) == sorted([lead_ids[0], lead_ids[2], lead_ids[5]])
    by_lead = {job.lead_id: job for job in _jobs(engine, "scripted")}
    assert "ZeroDivisionError: a bug" in (by_lead[crashing].last_error or "")
    assert "no_such_table" in (by_lead[broken].last_error or "")


def test_the_schedule_sets_each_wait_then_dead_and_retry_after_can_lengthen_a_wait() -> None:
    policy = RetryPolicy(schedule=(10.0, 60.0, 300.0), jitter=0.2)
    assert policy.max_attempts == 4
    waits = [policy.delay(attempt) for attempt in (1, 2, 3)]
    assert [8.0 <= waits[0] <= 12.0, 48.0 <= waits[1] <= 72.0, 240.0 <= waits[2] <= 360.0] == [True] * 3  # type: ignore[operator]
    assert policy.delay(4) is None  # the fourth attempt was the last
    assert policy.delay(1, retry_after=120.0) == 120.0
    assert policy.delay(1, retry_after=0.5) >= 8.0  # type: ignore[operator]  # never shorter than the schedule
    assert policy.delay(1, retry_after=10**9) == 6 * 3600.0  # an absurd Retry-After is bounded
    assert schedule_until(100.0, (10.0, 30.0)) == (10.0, 30.0, 30.0, 30.0)


def test_the_default_sync_schedule_retries_for_about_a_day(settings: Settings) -> None:
    hours = RetryPolicy(schedule=tuple(Settings(_env_file=None).sync_retry_schedule)).total_seconds() / 3600  # type: ignore[call-arg]
    assert 20 <= hours <= 26
    parsed = Settings(_env_file=None, sync_retry_schedule="10s, 1m,5m,2h, 1d")  # type: ignore[call-arg]
    assert parsed.sync_retry_schedule == [10.0, 60.0, 300.0, 7200.0, 86400.0]
    with pytest.raises(ValidationError, match="not a duration"):
        Settings(_env_file=None, sync_retry_schedule="10s,soon")  # type: ignore[call-arg]


def test_an_open_breaker_lets_one_probe_through_and_gives_the_others_their_attempt_back(engine: Engine) -> None:
    lead_ids = _leads(engine, 8)
    opened: list[str] = []
    breaker = CircuitBreaker("Company Explorer", threshold=3, down_seconds=0, probe_seconds=0.2, max_probe_seconds=0.4)
    breaker.on_open = lambda b: opened.append(b.describe())
    handler = ScriptedHandler(breaker=breaker, schedule=(0.0,) * 5)
    handler.outage = RetryableError("POST /api/companies failed: ConnectError")
    _enqueue(engine, lead_ids, "scripted")

    _run(engine, handler, "scripted")
    # Three failures opened it; the five jobs after it were not tried and keep their attempt.
    assert len(handler.worked) == 3 and breaker.is_open and len(opened) == 1
    assert opened[0].startswith("Company Explorer unreachable since ")
    assert sorted(job.attempts for job in _jobs(engine, "scripted")) == [0] * 5 + [1] * 3
    waiting = [job for job in _jobs(engine, "scripted") if job.attempts == 0]
    assert all("Company Explorer unreachable since" in (job.last_error or "") for job in waiting)

    # Until the probe is due nothing goes out, then one call per probe interval.
    resume_waiting(engine, ["scripted"])
    _run(engine, handler, "scripted")
    assert len(handler.worked) == 3
    time.sleep(0.25)
    resume_waiting(engine, ["scripted"])
    _run(engine, handler, "scripted")
    assert len(handler.worked) == 4 and breaker.is_open  # the probe failed: still down

    handler.outage = None
    time.sleep(0.45)
    resume_waiting(engine, ["scripted"])
    _run(engine, handler, "scripted")
    # The probe succeeded and closed the breaker; the rest of that batch went out behind it.
    assert not breaker.is_open and len(handler.worked) == 4 + 8
    assert {job.status for job in _jobs(engine, "scripted")} == {"done"}
    assert len(opened) == 1
    assert max(job.attempts for job in _jobs(engine, "scripted")) == 2  # nobody paid for the outage


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


def test_claims_read_the_claim_index_so_done_jobs_never_slow_them(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the query plan is SQLite's")
    query = due_jobs(utcnow(), limit=20, skip_kinds=["sync"])
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        plan = " / ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert plan.count("USING INDEX ix_jobs_claim") == 2, plan  # queued and due; running with an expired lease
    assert "SCAN jobs" not in plan.replace("SCAN jobs_1", ""), plan


def test_a_flaky_service_that_still_answers_keeps_its_breaker_closed() -> None:
    breaker = CircuitBreaker("Company Explorer", threshold=3, down_seconds=0.3)
    for _ in range(10):  # many failures at once, but within less than down_seconds of each other
        breaker.record_failure("503")
    assert not breaker.is_open
    breaker.record_success()  # it answered: the count starts again
    breaker.record_failure("503")
    time.sleep(0.35)
    breaker.record_failure("503")
    assert not breaker.is_open  # failing for long enough, but only twice in a row
    assert breaker.record_failure("503") and breaker.is_open  # the third in a row, 0.35 s after the first
