"""Promise: a slow or oversized request cannot hold the API. Half a header or a body trickling in is answered 408
and closed once its deadline passes; too many or too large headers are answered 431; everyone else is served
meanwhile. Against the real API process, as `python -m lead_engine api` runs it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_TOKEN
from tests.support.servers import engine_process, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def api(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = {
        "LEAD_ENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'leads.db'}",
        "LEAD_ENGINE_API_TOKEN": API_TOKEN,
        "LEAD_ENGINE_API_PORT": str(port),
        "LEAD_ENGINE_REQUEST_HEADER_TIMEOUT": "1",
        "LEAD_ENGINE_REQUEST_BODY_TIMEOUT": "2",
    }
    with engine_process("api", env, cwd=tmp_path, health_url=f"http://127.0.0.1:{port}/api/health"):
        yield port


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 15 s pass)."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_half_sent_headers_are_cut_off_while_others_are_served(api: int) -> None:
    slow = [connect(api) for _ in range(300)]
    for sock in slow:
        sock.sendall(b"POST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
    health = httpx.get(f"http://127.0.0.1:{api}/api/health", timeout=10)  # served while 300 connections dawdle
    assert health.status_code == 200
    answers = [answer(sock) for sock in slow]
    assert all(item.startswith(b"HTTP/1.1 408 Request Timeout") for item in answers), answers[0]
    assert b"the request headers did not arrive within 1 seconds" in answers[0]


def test_a_body_at_one_byte_a_second_is_cut_off_and_stores_nothing(api: int) -> None:
    sock = connect(api)
    head = (
        f"POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    sock.sendall(head.encode())
    started = time.monotonic()
    try:
        for byte in b'{"subject": "slow", "raw_body": "' + b"x" * 100:
            sock.sendall(bytes([byte]))
            time.sleep(0.5)
            if time.monotonic() - started > 10:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed on us, as it should be
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout"), reply
    assert b"the request body did not arrive within 2 seconds" in reply
    leads = httpx.get(f"http://127.0.0.1:{api}/api/leads", headers={"Authorization": f"Bearer {API_TOKEN}"}).json()
    assert leads["total"] == 0


def test_too_many_headers_are_refused_with_431(api: int) -> None:
    sock = connect(api)
    sock.sendall(
        b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(150)) + b"\r\n"
    )
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large"), reply
    sock = connect(api)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    assert answer(sock).startswith(b"HTTP/1.1 431")


def test_a_kept_alive_connection_serves_request_after_request(api: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{api}", timeout=10) as client:
        for _ in range(3):
            assert client.get("/api/health").status_code == 200
            time.sleep(1.5)  # longer than the header deadline, shorter than keep-alive: the next request is new
