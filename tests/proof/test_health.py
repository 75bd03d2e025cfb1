"""Promise: /api/health tells the truth. 503 with the reason while the database refuses writes (a full disk, a
lock held too long), 200 again once it takes them; details only with the token; /api/health/live always cheap.
Against the real API process."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import API_TOKEN, POSTGRES_ADMIN_URL
from tests.support.servers import engine_process, free_port

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@contextmanager
def api_on(database: Path, cwd: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "LEAD_ENGINE_DATABASE_URL": f"sqlite:///{database}",
        "LEAD_ENGINE_API_TOKEN": API_TOKEN,
        "LEAD_ENGINE_API_PORT": str(port),
    }
    url = f"http://127.0.0.1:{port}"
    with engine_process("api", env, cwd=cwd, health_url=f"{url}/api/health"):
        yield url


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def health(url: str) -> httpx.Response:
    return httpx.get(f"{url}/api/health", headers=AUTH, timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB file system of its own (tmpfs), to fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root): the full-disk case did not run")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_health_is_503_while_the_disk_is_full_and_200_again_after(small_disk: Path, tmp_path: Path) -> None:
    with api_on(small_disk / "leads.db", tmp_path) as url:
        stored = [
            httpx.post(f"{url}/api/ingest", json={"subject": f"vorher {n}", "raw_body": "Firma: A GmbH"}, headers=AUTH)
            for n in range(3)
        ]
        assert [response.status_code for response in stored] == [202, 202, 202]
        assert health(url).status_code == 200
        filler = small_disk / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, check=False)

        refused = httpx.post(
            f"{url}/api/ingest", json={"subject": "voll", "raw_body": "Firma: B GmbH " + "x" * 200_000}, headers=AUTH
        )
        assert refused.status_code == 503 and "Retry-After" in refused.headers
        down = wait_for(lambda: (reply := health(url)).status_code == 503 and reply, "health to say 503")
        assert down.json()["status"] == "error"
        assert any("disk is full" in reason for reason in down.json()["reasons"]), down.json()
        assert httpx.get(f"{url}/api/health/live").status_code == 200  # the process itself is fine

        filler.unlink()
        # n8n tries again: the request is stored, and health says so at once.
        again = httpx.post(f"{url}/api/ingest", json={"subject": "nachher", "raw_body": "Firma: C GmbH"}, headers=AUTH)
        assert again.status_code == 202
        wait_for(lambda: health(url).status_code == 200, "health to recover")
        leads = httpx.get(f"{url}/api/leads", headers=AUTH).json()
        assert sorted(item["subject"] for item in leads["items"]) == ["nachher", "vorher 0", "vorher 1", "vorher 2"]


@pytest.mark.slow
def test_health_is_503_while_a_lock_holds_writes_beyond_the_bound(tmp_path: Path) -> None:
    database = tmp_path / "leads.db"
    with api_on(database, tmp_path) as url:
        assert health(url).status_code == 200
        time.sleep(10.5)  # let the last probe age, so the next request probes again
        holder = sqlite3.connect(database, timeout=1, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            down = wait_for(lambda: (reply := health(url)).status_code == 503 and reply, "health to say 503")
            assert "has not taken a write for" in down.json()["reasons"][0]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        wait_for(lambda: health(url).status_code == 200, "health to recover")


def test_health_shows_details_only_with_the_token(client: httpx.Client, api_url: str) -> None:
    anonymous = httpx.get(f"{api_url}/api/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok", "reasons": []}
    detailed = client.get("/api/health").json()
    assert {"version", "database", "ingest_writer", "leads", "sync_enabled"} <= set(detailed)
    assert httpx.get(f"{api_url}/api/health/live").json() == {"status": "ok"}
    spec = httpx.get(f"{api_url}/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/api/leads"]["get"]["security"] == [{"HTTPBearer": []}]


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="LEAD_ENGINE_TEST_POSTGRES_URL is not set")
def test_health_is_503_while_postgres_is_read_only(postgres_url: str, tmp_path: Path) -> None:
    name = make_url(postgres_url).database
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def read_only(on: bool) -> None:
        with admin.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
            )
            # The API's pooled connections keep their old setting: end them, as a failover would.
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": name},
            )

    port = free_port()
    env = {
        "LEAD_ENGINE_DATABASE_URL": postgres_url,
        "LEAD_ENGINE_API_TOKEN": API_TOKEN,
        "LEAD_ENGINE_API_PORT": str(port),
    }
    url = f"http://127.0.0.1:{port}"
    try:
        with engine_process("api", env, cwd=tmp_path, health_url=f"{url}/api/health"):
            time.sleep(10.5)  # let the start-up probe age
            read_only(True)
            down = wait_for(lambda: (reply := health(url)).status_code == 503 and reply, "health to say 503")
            assert any("read-only transaction" in reason for reason in down.json()["reasons"]), down.json()
            read_only(False)
            wait_for(lambda: health(url).status_code == 200, "health to recover", timeout=90)
    finally:
        read_only(False)
        admin.dispose()
