"""The ingest writer process: framing over the socket, losing it mid-request, and stopping with the API."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from lead_engine.api import create_app
from lead_engine.core.ingest_writer import _frame, _read_frames
from lead_engine.core.models import Lead
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN
from tests.support.servers import serve_app

HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


def test_frames_split_across_reads_and_sent_together_come_out_whole() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        first, second, third = _frame((1, "a" * 5000)), _frame((2, "b")), _frame((3, "c"))
        ours.sendall(first[:3])
        threading.Timer(0.05, lambda: ours.sendall(first[3:] + second + third)).start()
        buffer = bytearray()
        # Blocks for the rest of the first frame, then takes everything that arrived with it.
        assert _read_frames(theirs, buffer, 256) == [(1, "a" * 5000), (2, "b"), (3, "c")]
        ours.sendall(_frame((4, "d")) + _frame((5, "e")))
        time.sleep(0.05)
        assert _read_frames(theirs, buffer, 1) == [(4, "d")]  # at most the limit; the rest stays buffered
        assert _read_frames(theirs, buffer, 256) == [(5, "e")]
        ours.close()
        assert _read_frames(theirs, buffer, 256) is None


def _wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


@pytest.mark.slow
def test_requests_in_hand_of_a_killed_writer_get_503_and_the_next_one_is_stored(
    settings: Settings, engine: Engine
) -> None:
    app = create_app(settings)
    with serve_app(app) as url, httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        assert client.post("/api/ingest", json={"subject": "first", "raw_body": "x"}).status_code == 202
        writer = app.state.writer
        stuck = writer.process
        os.kill(stuck.pid, signal.SIGSTOP)  # it holds the next requests without answering
        try:
            with ThreadPoolExecutor(max_workers=3) as pool:
                posts = [
                    pool.submit(client.post, "/api/ingest", json={"subject": f"held {n}", "raw_body": "y"})
                    for n in range(3)
                ]
                _wait_for(lambda: writer.in_hand == 3)
                os.kill(stuck.pid, signal.SIGKILL)
                held = [post.result() for post in posts]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stuck.pid, signal.SIGCONT)
        assert [response.status_code for response in held] == [503, 503, 503]
        assert all(response.headers["Retry-After"] == "5" for response in held)
        assert "retry later" in held[0].json()["detail"]

        assert client.get("/api/health").json()["ingest_writer"] == "starts with the next request"
        after = client.post("/api/ingest", json={"subject": "after", "raw_body": "z"})
        assert after.status_code == 202, after.text
        assert writer.process.pid != stuck.pid
        assert client.get("/api/health").json()["ingest_writer"] == "running"
    with Session(engine) as session:
        subjects = set(session.scalars(select(Lead.subject)))
    assert subjects == {"first", "after"}


@pytest.mark.slow
def test_stopping_the_api_ends_its_writer(settings: Settings, engine: Engine) -> None:
    app = create_app(settings)
    with serve_app(app) as url:
        stored = httpx.post(f"{url}/api/ingest", json={"subject": "s", "raw_body": "b"}, headers=HEADERS)
        assert stored.status_code == 202
        process = app.state.writer.process
        assert process.poll() is None
    assert process.wait(timeout=10) == 0


@pytest.mark.slow
def test_writer_killed_under_traffic_is_replaced_and_loses_no_acknowledged_lead(
    settings: Settings, engine: Engine
) -> None:
    app = create_app(settings)
    statuses: list[int] = []
    acknowledged: list[str] = []
    stop = threading.Event()

    def send(client_no: int, url: str) -> None:
        with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                response = client.post("/api/ingest", json={"subject": f"t {client_no}-{n}", "raw_body": "x"})
                statuses.append(response.status_code)
                if response.status_code == 202:
                    acknowledged.append(response.json()["lead_id"])

    with serve_app(app) as url:
        threads = [threading.Thread(target=send, args=(number, url)) for number in range(8)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: len(acknowledged) > 50)
        first = app.state.writer.process
        os.kill(first.pid, signal.SIGKILL)
        _wait_for(lambda: app.state.writer.process is not first and len(acknowledged) > 200)
        stop.set()
        for thread in threads:
            thread.join()
        second = app.state.writer.process
        assert second is not first and second.poll() is None
    assert set(statuses) <= {202, 503}
    with Session(engine) as session:
        stored = set(session.scalars(select(Lead.id).where(Lead.id.in_(acknowledged))))  # type: ignore[attr-defined]
    assert stored == set(acknowledged)
