"""SQLite engines: the settings every connection gets, and write transactions that take the lock up front."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from lead_engine.core.db import create_db_engine, read_session

# synchronous 2 is FULL; a negative cache_size is KiB (SQLite's default 2 MiB).
EXPECTED = {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 30000, "foreign_keys": 1, "cache_size": -2000}


def test_sqlite_connections_use_wal_full_sync_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/leads.db")
    with engine.connect() as connection:
        pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in EXPECTED}
    assert pragma == EXPECTED
    engine.dispose()


def test_cache_size_is_set_per_engine(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/leads.db", cache_mib=64)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -65536
    engine.dispose()


def test_write_transaction_holds_the_write_lock_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "leads.db"
    engine = create_db_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with Session(engine) as session, session.begin():
        session.execute(text("SELECT 1"))  # a read only: BEGIN IMMEDIATE has taken the lock all the same
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    with read_session(engine) as session, session.begin():
        session.execute(text("SELECT 1"))
        other.execute("BEGIN IMMEDIATE")  # a read session leaves the lock free
        other.execute("ROLLBACK")
    other.close()
    engine.dispose()
