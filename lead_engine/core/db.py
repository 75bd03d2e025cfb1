"""Engines and sessions for SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL, and migrations on start."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
READ_ONLY = {"lead_engine_read_only": True}


def _configure_sqlite(engine: Engine, cache_mib: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling breaks savepoints).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        if cache_mib:
            cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails with "database is locked" whatever
        # the timeout; taking the write lock up front makes writers queue on busy_timeout instead.
        read_only = connection.get_execution_options().get("lead_engine_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_db_engine(database_url: str, *, cache_mib: int | None = None) -> Engine:
    """An engine for the URL, with the SQLite settings the engine relies on.

    ``cache_mib`` sets SQLite's page cache per connection (default 2 MiB): the ingest writer looks up and
    inserts idempotency keys at random places in their index, and keeps more of it in memory.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine, cache_mib)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache
def get_engine(database_url: str) -> Engine:
    """One engine per URL and process."""
    return create_db_engine(database_url)


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads only; on SQLite it does not take the write lock."""
    with Session(engine.execution_options(**READ_ONLY)) as session:
        yield session


def is_postgres(engine: Engine) -> bool:
    """Whether the engine talks to PostgreSQL (row locks with SKIP LOCKED are available)."""
    return engine.dialect.name == "postgresql"


def run_migrations(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    from alembic import command  # loaded here: processes that never migrate (the ingest writer) skip it
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection, connection.begin():
        if is_postgres(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(748215)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    logger.info("database ready", extra={"action": "db.migrated"})
