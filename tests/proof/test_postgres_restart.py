"""Promise: PostgreSQL restarting under the running engine costs retries, not leads. While it is down ingest
answers 503 (n8n tries again); afterwards the same API and worker processes carry on without a restart."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session, col

from lead_engine.core.models import Lead
from tests.conftest import API_TOKEN, POSTGRES_ADMIN_URL
from tests.support.servers import engine_process, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="LEAD_ENGINE_TEST_POSTGRES_URL is not set"),
]
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def database_url(postgres_only_url: str) -> str:
    """PostgreSQL only."""
    return postgres_only_url


def restart_postgres() -> None:
    clusters = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False)
    local = [line.split() for line in clusters.stdout.splitlines() if " 5432 " in f" {line} "]
    if not shutil.which("pg_ctlcluster") or not local:
        pytest.skip("no local PostgreSQL cluster this test may restart")
    version, name = local[0][0], local[0][1]
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart", "--", "-m", "fast"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def ingest(client: httpx.Client, subject: str) -> httpx.Response:
    return client.post("/api/ingest", json={"subject": subject, "raw_body": "Firma: Kunde GmbH\nE-Mail: a@kunde.de"})


def test_a_postgres_restart_costs_retries_not_leads(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {"LEAD_ENGINE_DATABASE_URL": database_url, "LEAD_ENGINE_API_TOKEN": API_TOKEN}
    api_env = {**env, "LEAD_ENGINE_API_PORT": str(port)}
    (tmp_path / "api").mkdir()
    (tmp_path / "worker").mkdir()
    health = f"http://127.0.0.1:{port}/api/health"
    with (
        engine_process("api", api_env, cwd=tmp_path / "api", health_url=health),
        engine_process("worker", {**env, "LEAD_ENGINE_WORKER_POLL_SECONDS": "0.1"}, cwd=tmp_path / "worker"),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30) as client,
    ):
        assert all(ingest(client, f"vorher {n}").status_code == 202 for n in range(5))
        restart_postgres()
        # As n8n does: try again on 503 until it is stored.
        answers: list[int] = []
        for n in range(5):
            deadline = time.monotonic() + 60
            while (status := ingest(client, f"nachher {n}").status_code) != 202:
                answers.append(status)
                assert status == 503 and time.monotonic() < deadline, answers
                time.sleep(0.5)
        engine = create_engine(database_url)
        try:
            deadline = time.monotonic() + 60
            while True:
                with Session(engine) as session:
                    waiting = session.scalar(select(func.count()).where(col(Lead.status) == "received"))
                    subjects = sorted(session.scalars(select(Lead.subject)))
                if waiting == 0:
                    break
                assert time.monotonic() < deadline, "the worker did not carry on after the restart"
                time.sleep(0.5)
        finally:
            engine.dispose()
        assert httpx.get(health).status_code == 200
    assert subjects == sorted([f"vorher {n}" for n in range(5)] + [f"nachher {n}" for n in range(5)])
