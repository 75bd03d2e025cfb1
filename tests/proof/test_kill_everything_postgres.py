"""Promise: on PostgreSQL with two API processes and two workers, SIGKILL of an API and a worker under load
loses no acknowledged lead, stores none twice, and leaves none stuck: the survivors finish every job."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from lead_engine.core.models import Job, Lead
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN, POSTGRES_ADMIN_URL
from tests.support.servers import engine_process, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="LEAD_ENGINE_TEST_POSTGRES_URL is not set"),
]


@pytest.fixture
def database_url(postgres_only_url: str) -> str:
    """PostgreSQL only."""
    return postgres_only_url


def test_killing_an_api_and_a_worker_under_load_loses_nothing_and_leaves_nothing_stuck(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    common = {"LEAD_ENGINE_DATABASE_URL": settings.database_url, "LEAD_ENGINE_API_TOKEN": API_TOKEN}
    worker_env = {**common, "LEAD_ENGINE_JOB_LEASE_SECONDS": "3", "LEAD_ENGINE_WORKER_POLL_SECONDS": "0.1"}
    acknowledged: list[str] = []
    subjects: list[str] = []
    stop = threading.Event()

    def send(client_no: int) -> None:
        port = ports[client_no % 2]
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as client:
            n = 0
            while not stop.is_set():
                n += 1
                subject = f"Anfrage {client_no}-{n}"
                payload = {"subject": subject, "raw_body": f"Firma: Kunde {client_no}-{n} GmbH\nE-Mail: k@k{n}.de"}
                try:
                    response = client.post("/api/ingest", json=payload)
                except httpx.HTTPError:
                    if port == ports[0]:
                        return  # its API was killed: this client stops, as n8n's would until a retry
                    continue
                if response.status_code in (200, 202):
                    acknowledged.append(response.json()["lead_id"])
                    subjects.append(subject)

    dirs = [tmp_path / name for name in ("api1", "api2", "worker1", "worker2")]
    for folder in dirs:
        folder.mkdir()
    with (
        engine_process("api", {**common, "LEAD_ENGINE_API_PORT": str(ports[0])}, cwd=dirs[0],
                       health_url=f"http://127.0.0.1:{ports[0]}/api/health") as api_one,
        engine_process("api", {**common, "LEAD_ENGINE_API_PORT": str(ports[1])}, cwd=dirs[1],
                       health_url=f"http://127.0.0.1:{ports[1]}/api/health"),
        engine_process("worker", worker_env, cwd=dirs[2]) as worker_one,
        engine_process("worker", worker_env, cwd=dirs[3]),
    ):  # fmt: skip
        threads = [threading.Thread(target=send, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        api_one.send_signal(signal.SIGKILL)
        worker_one.send_signal(signal.SIGKILL)
        time.sleep(2)  # the other API and worker carry on under load
        stop.set()
        for thread in threads:
            thread.join()

        with Session(engine) as session:

            def unfinished() -> tuple[int, int]:
                waiting = session.scalar(select(func.count()).where(col(Lead.status) == "received")) or 0
                jobs = session.scalar(select(func.count()).where(col(Job.status).in_(("queued", "running")))) or 0
                session.rollback()
                return waiting, jobs

            deadline = time.monotonic() + 120
            while unfinished() != (0, 0):
                assert time.monotonic() < deadline, f"still unfinished after the kill: {unfinished()}"
                time.sleep(0.5)
            stored = Counter(session.scalars(select(Lead.subject)))

    assert len(acknowledged) >= 400, "too little load before the kill"
    assert all(stored[subject] == 1 for subject in subjects), "a lead was stored twice or lost"
    with Session(engine) as session:
        present = set(session.scalars(select(Lead.id).where(col(Lead.id).in_(acknowledged))))
    assert present == set(acknowledged)
