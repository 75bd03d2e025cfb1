"""A lead that got a 2xx survives the API being killed mid-traffic; a database outage is a 503, not a 500."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from lead_engine.api import create_app
from lead_engine.core.models import Lead, RawMessage
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN, POSTGRES_ADMIN_URL
from tests.support.servers import child_pids, engine_process, free_port, serve_app

pytestmark = pytest.mark.slow


def test_sigkill_loses_no_acknowledged_lead(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "LEAD_ENGINE_DATABASE_URL": settings.database_url,
        "LEAD_ENGINE_API_TOKEN": API_TOKEN,
        "LEAD_ENGINE_API_PORT": str(port),
    }
    acknowledged: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def send(client_no: int) -> None:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as client:
            n = 0
            while not stop.is_set():
                n += 1
                payload = {"subject": f"Anfrage {client_no}-{n}", "raw_body": f"Firma: Kunde {client_no}-{n} GmbH"}
                try:
                    response = client.post("/api/ingest", json=payload)
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                    return
                if response.status_code in (200, 202):
                    acknowledged.append(response.json()["lead_id"])

    with engine_process("api", env, cwd=tmp_path, health_url=f"http://127.0.0.1:{port}/api/health") as api:
        threads = [threading.Thread(target=send, args=(number,)) for number in range(16)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        writers = child_pids(api.pid)
        api.send_signal(signal.SIGKILL)
        api.wait()
        stop.set()
        for thread in threads:
            thread.join()

    assert len(acknowledged) >= 300, "the API acknowledged too few requests before the kill"
    assert errors, "the kill happened after all traffic ended, so it proved nothing"
    with Session(engine) as session:
        stored = set(session.scalars(select(Lead.id).where(Lead.id.in_(acknowledged))))  # type: ignore[attr-defined]
        raw_count = len(session.scalars(select(RawMessage.id)).all())
    assert stored == set(acknowledged)
    assert raw_count >= len(acknowledged)
    # The writer process notices its API is gone and exits instead of holding the database.
    assert writers, "the API had no writer process"
    for writer in writers:
        deadline = time.monotonic() + 15
        while Path(f"/proc/{writer}").exists() and "Z" not in _state(writer):
            assert time.monotonic() < deadline, f"writer {writer} outlived its API"
            time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="LEAD_ENGINE_TEST_POSTGRES_URL is not set")
def test_database_outage_is_503_not_500(tmp_path: Path) -> None:
    admin_url = make_url(POSTGRES_ADMIN_URL or "")
    name = f"lead_engine_outage_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    settings = Settings(_env_file=None, database_url=url, api_token=API_TOKEN)  # type: ignore[call-arg]
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    try:
        with serve_app(create_app(settings)) as api:
            first = httpx.post(f"{api}/api/ingest", json={"subject": "a", "raw_body": "b"}, headers=headers)
            assert first.status_code == 202
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            down = httpx.post(f"{api}/api/ingest", json={"subject": "c", "raw_body": "d"}, headers=headers)
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"] == "5" and "retry later" in down.json()["detail"]
            assert httpx.get(f"{api}/api/leads", headers=headers).status_code == 503
            assert httpx.get(f"{api}/api/health").status_code == 503
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
