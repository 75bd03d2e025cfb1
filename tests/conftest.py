"""Fixtures with real parts: a SQLite file or a PostgreSQL database, the API on a loopback port."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from lead_engine.api import create_app
from lead_engine.core.db import create_db_engine, run_migrations
from lead_engine.core.settings import Settings
from tests.support.company_explorer_server import ExplorerState
from tests.support.dovecot import DOVEADM, DOVECOT, MISSING, Dovecot, running_dovecot
from tests.support.ready_leads import running_explorer, running_sink
from tests.support.servers import serve_app
from tests.support.sink_server import SinkState

API_TOKEN = "test-token"
POSTGRES_ADMIN_URL = os.environ.get("LEAD_ENGINE_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="LEAD_ENGINE_TEST_POSTGRES_URL is not set"),
        ],
    ),
]


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> Iterator[None]:
    """Tests build their settings explicitly: no stray LEAD_ENGINE_/OPENAI_ variable or .env leaks in."""
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith(("LEAD_ENGINE_", "OPENAI_"))}
    saved.pop("LEAD_ENGINE_TEST_POSTGRES_URL", None)
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at the end."""
    assert POSTGRES_ADMIN_URL
    admin_url = make_url(POSTGRES_ADMIN_URL)
    name = f"lead_engine_test_{uuid.uuid4().hex[:10]}"
    # pre-ping: a test may restart PostgreSQL under the session (tests/proof/test_postgres_restart.py)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    run_migrations(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that needs a database runs once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'leads.db'}"
        return
    yield from request.getfixturevalue("postgres_database_url_factory")()


@pytest.fixture
def postgres_database_url_factory(postgres_url: str) -> Callable[[], Iterator[str]]:
    """The session's PostgreSQL database for one test, emptied when the test is done."""

    def use() -> Iterator[str]:
        yield postgres_url
        engine = create_engine(postgres_url)
        tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()

    return use


@pytest.fixture
def postgres_only_url(postgres_database_url_factory: Callable[[], Iterator[str]]) -> Iterator[str]:
    """For a test that is about PostgreSQL alone: its database, emptied afterwards."""
    yield from postgres_database_url_factory()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for a test: its database, a known token, no outside service."""
    return Settings(_env_file=None, database_url=database_url, api_token=API_TOKEN, worker_poll_seconds=0.05)  # type: ignore[call-arg]


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the test database with the schema in place."""
    engine = create_db_engine(settings.database_url)
    run_migrations(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def api_url(settings: Settings, engine: Engine) -> Iterator[str]:
    """The real API served by uvicorn on a loopback port."""
    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(api_url: str) -> Iterator[httpx.Client]:
    """An HTTP client for the API with the bearer token set."""
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30) as client:
        yield client


@pytest.fixture
def explorer() -> Iterator[tuple[ExplorerState, str]]:
    """The Company Explorer stand-in on a loopback port: its state (faults, records) and its URL."""
    with running_explorer() as running:
        yield running


@pytest.fixture
def sink() -> Iterator[tuple[SinkState, str]]:
    """A Slack / n8n receiver on a loopback port: what it got, and its URL."""
    with running_sink() as running:
        yield running


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A real dovecot on a loopback port; missing dovecot fails the run in CI and skips it elsewhere."""
    if DOVECOT is None or DOVEADM is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    with running_dovecot() as server:
        yield server
