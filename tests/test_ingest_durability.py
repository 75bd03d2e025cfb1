"""A lead that got a 2xx survives the API process being killed with SIGKILL mid-traffic."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from lead_engine.core.models import Lead, RawMessage
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.servers import engine_process, free_port

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
