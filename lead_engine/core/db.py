"""Engines and sessions for SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL, and migrations on start."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
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
BUSY_TIMEOUT_SECONDS = 30.0
_HOLDS_GATE = "lead_engine_holds_write_gate"


class WriteGate:
    """One SQLite writer at a time across every process and thread sharing a database file, in arrival order.

    SQLite makes a writer that finds the lock taken poll for it with growing sleeps (up to 100 ms), so a
    process that writes often (the worker) keeps winning against one that waits (the ingest writer). Here
    writers queue on a lock in the kernel (``flock`` on a file beside the database) and wake the moment the
    previous transaction ends. A process that dies releases it with its file descriptors.
    """

    def __init__(self, path: str, *, timeout: float) -> None:
        self.path = f"{path}-writelock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._threads = threading.Lock()
        self._timeout = timeout

    def acquire(self) -> None:
        """Wait for the turn to write; OperationalError-like TimeoutError after ``timeout`` in this process."""
        if not self._threads.acquire(timeout=self._timeout):
            raise TimeoutError(f"waited {self._timeout:g} s to write to the database")
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        """Let the next writer in."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_GATES: dict[str, WriteGate] = {}
_GATES_LOCK = threading.Lock()


def database_reason(exc: BaseException) -> str:
    """A database error in one line: the driver's type and first line only (SQLAlchemy's own text carries the
    statement and its parameters, which hold mail content)."""
    origin = getattr(exc, "orig", None) or exc
    lines = str(origin).strip().splitlines()
    return f"{type(origin).__name__}: {lines[0][:200] if lines else ''}"


def write_gate(path: str, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> WriteGate:
    """The process's gate for one SQLite file (created on first use)."""
    key = os.path.realpath(path)
    with _GATES_LOCK:
        if key not in _GATES:
            _GATES[key] = WriteGate(key, timeout=timeout)
        return _GATES[key]


def gate_of(engine: Engine) -> WriteGate | None:
    """The write gate of a SQLite file engine (None for PostgreSQL and in-memory SQLite)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return write_gate(database)


def _configure_sqlite(engine: Engine, cache_mib: int | None, gate: WriteGate | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling breaks savepoints).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if cache_mib:
            cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails with "database is locked" whatever
        # the timeout; taking the write lock up front makes writers queue on busy_timeout instead.
        read_only = connection.get_execution_options().get("lead_engine_read_only", False)
        if read_only or gate is None:
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
            return
        gate.acquire()
        connection.info[_HOLDS_GATE] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _let_go(connection.info)
            raise

    def _end(connection: Connection, finish: str) -> None:
        # The transaction ends here, not in SQLAlchemy's own call after this event: the gate opens only
        # once COMMIT (and its fsync) or ROLLBACK is done. SQLAlchemy's call then finds nothing to end.
        if not connection.info.get(_HOLDS_GATE):
            return
        try:
            getattr(connection.connection.dbapi_connection, finish)()
        finally:
            _let_go(connection.info)

    event.listen(engine, "commit", lambda connection: _end(connection, "commit"))
    event.listen(engine, "rollback", lambda connection: _end(connection, "rollback"))
    # A connection that goes back to the pool or is thrown away mid-transaction must not keep the gate.
    event.listen(engine.pool, "checkin", lambda _dbapi, record: _let_go(record.info))
    event.listen(engine.pool, "invalidate", lambda _dbapi, record, _exc: _let_go(record.info))

    def _let_go(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_GATE, False) and gate is not None:
            gate.release()


def create_db_engine(database_url: str, *, cache_mib: int | None = None) -> Engine:
    """An engine for the URL, with the SQLite settings the engine relies on.

    ``cache_mib`` sets SQLite's page cache per connection (default 2 MiB): the ingest writer looks up and
    inserts idempotency keys at random places in their index, and keeps more of it in memory.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS})
        _configure_sqlite(engine, cache_mib, gate_of(engine))
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
