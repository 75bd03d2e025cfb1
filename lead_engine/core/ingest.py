"""Durable ingest: requests are committed in groups, one commit serving every request that waited for it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from lead_engine.core.errors import LeadEngineError, UnprocessableError
from lead_engine.core.inbound import PreparedIngest
from lead_engine.core.models import IdempotencyKey, Job, Lead, LeadEvent, RawMessage, new_id, utcnow

logger = logging.getLogger(__name__)

MAX_BATCH = 256
PROCESS_JOB = "process"


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one request: the lead it maps to and whether it was a repeat."""

    lead_id: str
    status: str
    duplicate: bool


def _new_lead_rows(item: PreparedIngest, rows: dict[str, list[dict[str, Any]]]) -> str:
    now = utcnow()
    lead_id, raw_id = new_id(), new_id()
    email = item.email
    rows["raw"].append(
        {
            "id": raw_id,
            "received_at": now,
            "content_type": item.content_type,
            "body": item.body,
            "request_headers": item.request_headers,
        }
    )
    rows["lead"].append(
        {
            "id": lead_id,
            "raw_message_id": raw_id,
            "status": "received",
            "source": email.source,
            "received_at": email.received_at or now,
            "updated_at": now,
            "subject": email.subject[:2000] or None,
            "sender": email.sender[:512] or None,
            "reasons": [],
            "fields": {},
            "version": 1,
        }
    )
    rows["event"].append(
        {"lead_id": lead_id, "at": now, "actor": "api", "action": "received", "detail": {"source": email.source}}
    )
    rows["job"].append(
        {
            "lead_id": lead_id,
            "kind": PROCESS_JOB,
            "status": "queued",
            "attempts": 0,
            "max_attempts": 5,
            "run_after": now,
            "idempotency_key": f"process-{lead_id}",
            "payload": {},
            "created_at": now,
            "updated_at": now,
        }
    )
    return lead_id


def write_batch(engine: Engine, items: list[PreparedIngest]) -> list[IngestOutcome | LeadEngineError]:
    """Store a group of requests in one transaction; repeats map to the lead that holds one of their keys."""
    with Session(engine) as session, session.begin():
        all_keys = {key for item in items for key in item.keys}
        known: dict[str, tuple[str, str | None]] = {
            key: (lead_id, request_hash)
            for key, lead_id, request_hash in session.execute(
                select(IdempotencyKey.key, IdempotencyKey.lead_id, IdempotencyKey.request_hash).where(
                    IdempotencyKey.key.in_(all_keys)  # type: ignore[attr-defined]
                )
            )
        }
        rows: dict[str, list[dict[str, Any]]] = {"raw": [], "lead": [], "event": [], "job": [], "key": []}
        results: list[tuple[str, bool] | LeadEngineError] = []
        now = utcnow()
        for item in items:
            if item.idempotency_key in known and known[item.idempotency_key][1] not in (None, item.request_hash):
                results.append(UnprocessableError("Idempotency-Key was already used with a different body"))
                continue
            match = next((known[key][0] for key in item.keys if key in known), None)
            lead_id = match or _new_lead_rows(item, rows)
            for key in item.keys:
                if key not in known:
                    request_hash = item.request_hash if key == item.idempotency_key else None
                    known[key] = (lead_id, request_hash)
                    rows["key"].append(
                        {"key": key, "lead_id": lead_id, "request_hash": request_hash, "created_at": now}
                    )
            results.append((lead_id, match is not None))
        for table, name in (
            (RawMessage, "raw"),
            (Lead, "lead"),
            (LeadEvent, "event"),
            (Job, "job"),
            (IdempotencyKey, "key"),
        ):
            if rows[name]:
                session.execute(insert(table), rows[name])
        repeats = {result[0] for result in results if isinstance(result, tuple) and result[1]}
        statuses: dict[str, str] = {}
        if repeats:
            query = select(Lead.id, Lead.status).where(Lead.id.in_(repeats))  # type: ignore[attr-defined]
            statuses = {lead_id: status for lead_id, status in session.execute(query)}
    return [
        result
        if isinstance(result, LeadEngineError)
        else IngestOutcome(result[0], statuses.get(result[0], "received"), result[1])
        for result in results
    ]


def write_batch_with_retry(engine: Engine, items: list[PreparedIngest]) -> list[IngestOutcome | LeadEngineError]:
    """Write a group, reading keys again when another process committed one of them meanwhile."""
    for attempt in range(5):
        try:
            return write_batch(engine, items)
        except IntegrityError:
            # Another process stored one of these keys after our read; the next read sees it.
            logger.info("ingest key race, retrying", extra={"action": "ingest.key_race", "attempt": attempt})
    return write_batch(engine, items)


class IngestWriter:
    """Collects prepared requests from many coroutines and commits them in groups from one task."""

    def __init__(self, engine: Engine, *, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[PreparedIngest, asyncio.Future[IngestOutcome]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the writer task on the running loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._queue is not None and self._task is not None:
            await self._queue.join()
            self._task.cancel()

    async def submit(self, item: PreparedIngest) -> IngestOutcome:
        """Store one request; returns once it is committed."""
        if self._queue is None:
            await self.start()
        assert self._queue is not None
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    def _write(self, items: list[PreparedIngest]) -> list[IngestOutcome | BaseException]:
        try:
            return list(write_batch_with_retry(self.engine, items))
        except Exception as exc:  # noqa: BLE001 - the writer outlives any one failing batch
            if len(items) == 1:
                logger.exception("ingest write failed", extra={"action": "ingest.write_failed"})
                return [exc]
        # One bad request must not fail the others that shared its commit.
        return [result for item in items for result in self._write([item])]

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            results = await asyncio.to_thread(self._write, [item for item, _ in batch])
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            for _ in batch:
                self._queue.task_done()
