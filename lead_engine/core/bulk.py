"""Many rows into one table at once, converted to their stored form here (the hot paths: ingest and imports).

SQLAlchemy's per-value type processing costs more than such inserts themselves, so values are converted the
way the column types would (JSON as text, UTC as a naive timestamp, see models.UTCDateTime) and the rows go to
the driver in one ``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table
from sqlmodel import Session, SQLModel

from lead_engine.core.models import UTCDateTime

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def stamp(value: datetime, dialect: str) -> Any:
    """A moment as the UTCDateTime column stores it on this dialect."""
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime(SQLITE_TIME) if dialect == "sqlite" else naive


def placeholder(dialect: str, *, json_column: bool = False) -> str:
    """The driver's placeholder for one value (a JSON cast on PostgreSQL)."""
    if dialect == "sqlite":
        return "?"
    return "%s::json" if json_column else "%s"


def _json_text(value: Any) -> str:
    # Text is taken as JSON already encoded: a caller can encode a value many rows share once.
    return value if isinstance(value, str) else _ENCODE(value)


def _converter(column: Any, dialect: str) -> Callable[[Any], Any] | None:
    if isinstance(column.type, JSON):
        return _json_text
    if isinstance(column.type, UTCDateTime):
        return lambda value: None if value is None else stamp(value, dialect)
    return None


def insert_many(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert the rows (dicts by column name; missing columns are NULL) in the session's transaction.

    A JSON column's value may be given as its JSON text.
    """
    if not rows:
        return
    table: Table = model.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    dialect = connection.dialect.name
    keys = {key for row in rows for key in row}
    columns = [column for column in table.columns if column.name in keys]
    converters = [_converter(column, dialect) for column in columns]
    names = ", ".join(f'"{column.name}"' for column in columns)
    marks = ", ".join(placeholder(dialect, json_column=isinstance(column.type, JSON)) for column in columns)
    values = [
        tuple(
            convert(row.get(column.name)) if convert else row.get(column.name)
            for column, convert in zip(columns, converters, strict=True)
        )
        for row in rows
    ]
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)
