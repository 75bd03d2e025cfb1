"""Durable ingest: requests are committed in groups, one commit serving every request that waited for it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from lead_engine.core.bulk import placeholder, stamp
from lead_engine.core.db import database_reason, gate_of
from lead_engine.core.errors import IngestUnavailableError, LeadEngineError, UnprocessableError
from lead_engine.core.ids import new_id
from lead_engine.core.inbound import PreparedIngest
from lead_engine.core.job_kinds import PROCESS_JOB, PROCESS_MAX_ATTEMPTS, process_job_key
from lead_engine.core.search import search_text

logger = logging.getLogger(__name__)

MAX_BATCH = 256
# What delivered a lead that mailbox reconciliation found without one (the lead's "received" event names it).
RECONCILIATION_CHANNEL = "reconciliation"
UNAVAILABLE = "database unavailable, nothing was stored; retry later"


class IngestOutcome(NamedTuple):
    """What became of one request: the lead it maps to and whether it was a repeat."""

    lead_id: str
    status: str
    duplicate: bool


# Columns written for each new lead, in the order of the value tuples built below.
COLUMNS: dict[str, tuple[str, ...]] = {
    "raw_messages": ("id", "received_at", "content_type", "body", "request_headers"),
    "leads": (
        "id", "raw_message_id", "status", "source", "received_at", "updated_at", "subject", "sender",
        "reasons", "fields", "version", "search_text",
    ),
    "lead_events": ("lead_id", "at", "actor", "action", "detail"),
    "jobs": (
        "lead_id", "kind", "status", "attempts", "max_attempts", "run_after", "idempotency_key", "payload",
        "created_at", "updated_at",
    ),
    "idempotency_keys": ("key", "lead_id", "request_hash", "created_at"),
}  # fmt: skip
JSON_COLUMNS = frozenset({"request_headers", "reasons", "fields", "detail", "payload"})


class _Rows:
    """Value tuples per table in their stored form (JSON text, naive UTC; see core.bulk), one multi-row INSERT each."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.sqlite = dialect == "sqlite"
        self.tables: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        self.now = self.stamp(datetime.now(UTC))
        self._details: dict[tuple[str, str], str] = {}

    def stamp(self, value: datetime) -> Any:
        return stamp(value, self.dialect)

    def add_lead(self, item: PreparedIngest) -> str:
        lead_id, raw_id, now = new_id(), new_id(), self.now
        received = self.stamp(item.received_at) if item.received_at else now
        self.tables["raw_messages"].append(
            (
                raw_id,
                now,
                item.content_type,
                item.body,
                json.dumps(item.request_headers) if item.request_headers else "{}",
            )
        )
        self.tables["leads"].append(
            (
                lead_id, raw_id, "received", item.source, received, now, item.subject[:2000] or None,
                item.sender[:512] or None, "[]", "{}", 1, search_text({"subject": item.subject, "sender": item.sender}),
            )
        )  # fmt: skip
        detail = self.event_detail(item.source, item.channel)
        self.tables["lead_events"].append((lead_id, now, item.channel, "received", detail))
        self.tables["jobs"].append(
            (lead_id, PROCESS_JOB, "queued", 0, PROCESS_MAX_ATTEMPTS, now, process_job_key(lead_id), "{}", now, now)
        )
        return lead_id

    def event_detail(self, source: str, channel: str) -> str:
        # A group mostly shares a handful of sources: encode each once.
        if (source, channel) not in self._details:
            detail = {"source": source}
            if channel == RECONCILIATION_CHANNEL:
                detail["recovered"] = "by reconciliation: the mail was in the mailbox, but no lead had come in for it"
            self._details[source, channel] = json.dumps(detail)
        return self._details[source, channel]

    def add_key(self, key: str, lead_id: str, request_hash: str | None) -> None:
        self.tables["idempotency_keys"].append((key, lead_id, request_hash, self.now))

    def mark(self, name: str = "") -> str:
        """The driver's placeholder for one value (a JSON cast on PostgreSQL)."""
        return placeholder(self.dialect, json_column=name in JSON_COLUMNS)

    def insert(self, cursor: Any) -> None:
        # One multi-row INSERT per table: the driver releases and re-takes the GIL once per statement,
        # and each re-take waits on the busy event loop thread, so fewer statements mean a faster commit.
        for table, values in self.tables.items():
            if not values:
                continue
            columns = COLUMNS[table]
            row = f"({', '.join(self.mark(name) for name in columns)})"
            names = ", ".join(f'"{name}"' for name in columns)
            sql = f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * len(values))}"
            cursor.execute(sql, tuple(value for values_row in values for value in values_row))


def _select_in(rows: _Rows, cursor: Any, sql: str, values: list[str]) -> list[tuple[Any, ...]]:
    cursor.execute(sql.format(marks=", ".join([rows.mark()] * len(values))), tuple(values))
    return list(cursor.fetchall())


def write_batch(engine: Engine, items: list[PreparedIngest]) -> list[IngestOutcome | LeadEngineError]:
    """Store a group of requests in one transaction; repeats map to the lead that holds one of their keys.

    This runs on the driver's connection directly (see ``_Rows``); on SQLite it takes the write lock first.
    """
    rows = _Rows(engine.dialect.name)
    driver_error = engine.dialect.loaded_dbapi.Error
    try:
        return _write_rows(engine, rows, items)
    except driver_error as exc:
        # Callers see SQLAlchemy's exceptions (OperationalError, IntegrityError…) as everywhere else.
        raise DBAPIError.instance(None, None, exc, driver_error, hide_parameters=True) from exc


def _write_rows(engine: Engine, rows: _Rows, items: list[PreparedIngest]) -> list[IngestOutcome | LeadEngineError]:
    gate = gate_of(engine)
    if gate is not None:
        gate.acquire()
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if rows.sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        all_keys = list({key for item in items for key in item.keys})
        found = _select_in(
            rows, cursor, "SELECT key, lead_id, request_hash FROM idempotency_keys WHERE key IN ({marks})", all_keys
        )
        known: dict[str, tuple[str, str | None]] = {
            key: (lead_id, request_hash) for key, lead_id, request_hash in found
        }
        results: list[tuple[str, bool] | LeadEngineError] = []
        for item in items:
            stored_hash = known[item.idempotency_key][1] if item.idempotency_key in known else None
            if stored_hash not in (None, item.request_hash, item.body_hash):
                results.append(UnprocessableError("Idempotency-Key was already used with a different body"))
                continue
            match = next((known[key][0] for key in item.keys if key in known), None)
            lead_id = match or rows.add_lead(item)
            for key in item.keys:
                if key not in known:
                    request_hash = item.request_hash if key == item.idempotency_key else None
                    known[key] = (lead_id, request_hash)
                    rows.add_key(key, lead_id, request_hash)
            results.append((lead_id, match is not None))
        rows.insert(cursor)
        repeats = list({result[0] for result in results if isinstance(result, tuple) and result[1]})
        statuses: dict[str, str] = {}
        if repeats:
            statuses = dict(_select_in(rows, cursor, "SELECT id, status FROM leads WHERE id IN ({marks})", repeats))
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()
        if gate is not None:
            gate.release()
    return [
        result
        if isinstance(result, LeadEngineError)
        else IngestOutcome(result[0], statuses.get(result[0], "received"), result[1])
        for result in results
    ]


def write_group(engine: Engine, items: list[PreparedIngest]) -> list[IngestOutcome | LeadEngineError]:
    """Write a group; when its commit fails, write each request alone so one bad request fails by itself."""
    try:
        return write_batch_with_retry(engine, items)
    except (OperationalError, InterfaceError) as exc:
        # The database is unreachable or locked: every request of the group fails alike, none is stored.
        logger.error("database unavailable", extra={"action": "ingest.database_unavailable", "error": repr(exc)[:200]})
        cause = database_reason(exc)
        return [IngestUnavailableError(UNAVAILABLE.replace("unavailable", f"unavailable ({cause})", 1)) for _ in items]
    except Exception:  # the writer outlives any one failing group
        if len(items) == 1:
            logger.exception("ingest write failed", extra={"action": "ingest.write_failed"})
            return [IngestUnavailableError("the request could not be stored; retry later")]
    return [result for item in items for result in write_group(engine, [item])]


def write_batch_with_retry(engine: Engine, items: list[PreparedIngest]) -> list[IngestOutcome | LeadEngineError]:
    """Write a group, reading keys again when another process committed one of them meanwhile."""
    for attempt in range(5):
        try:
            return write_batch(engine, items)
        except IntegrityError:
            # Another process stored one of these keys after our read; the next read sees it.
            logger.info("ingest key race, retrying", extra={"action": "ingest.key_race", "attempt": attempt})
    return write_batch(engine, items)
