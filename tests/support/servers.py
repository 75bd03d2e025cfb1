"""Real servers for tests: an ASGI app on a loopback port in a thread, and engine processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: Any, *, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for_http(url: str, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200, or fail with what the process printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def engine_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The environment for an engine subprocess: this one, the given settings, the repo on the path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LEAD_ENGINE_", "OPENAI_"))}
    env.update(settings_env)
    env["PYTHONPATH"] = str(ROOT)
    return env


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, and SIGKILL when it has not ended within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def engine_process(
    command: str, env: dict[str, str], *, cwd: Path, health_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m lead_engine <command>`` until the block ends (SIGTERM, then SIGKILL)."""
    log = (cwd / f"{command}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "lead_engine", command],
        env=engine_env(env),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if health_url:
            wait_for_http(health_url, process=process)
        yield process
    finally:
        stop_process(process)
        log.close()
