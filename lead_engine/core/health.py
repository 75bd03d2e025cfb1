"""Whether the engine can do its job now: the database answers and takes writes, and ingest is not failing.

A load balancer reads the verdict; ``/api/health`` answers 503 with the reasons when it is no.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col

from lead_engine.core.db import database_reason, read_session
from lead_engine.core.models import HealthProbe, utcnow

logger = logging.getLogger(__name__)

# A write probe is made at most this often; a verdict is that old at most.
PROBE_EVERY = 10.0
# A write that has not gone through after this long counts as refused (the database is locked).
WRITE_BOUND = 5.0


def write_probe(engine: Engine) -> str | None:
    """Write the probe row and commit; the reason in words when the database refuses, else None."""
    by = f"{socket.gethostname()}-{os.getpid()}"
    try:
        with Session(engine) as session:
            probe = update(HealthProbe).where(col(HealthProbe.id) == 1).values(at=utcnow(), by=by)
            updated = session.execute(probe)
            if not updated.rowcount:  # type: ignore[attr-defined]
                session.add(HealthProbe(id=1, by=by))
            session.commit()
    except IntegrityError:
        return None  # another process wrote the first row at the same moment: writes work
    except SQLAlchemyError as exc:
        return f"the database refuses writes: {database_reason(exc)}"
    return None


@dataclass
class WriteCheck:
    """The last write probe's verdict, made again in the background once it is older than PROBE_EVERY."""

    engine: Engine
    reason: str | None = None
    checked: float = 0.0
    _running_since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verdict(self) -> str | None:
        """Why writes fail now (None: they work). Never waits longer than WRITE_BOUND."""
        now = time.monotonic()
        with self._lock:
            running = self._running_since
            due = running is None and now - self.checked >= PROBE_EVERY
            if due:
                self._running_since = now
        if due:
            worker = threading.Thread(target=self._probe, name="health-write-probe", daemon=True)
            worker.start()
            worker.join(WRITE_BOUND)
        with self._lock:
            if self._running_since is not None and time.monotonic() - self._running_since >= WRITE_BOUND:
                waited = time.monotonic() - self._running_since
                return f"the database has not taken a write for {waited:.0f} s (locked or stalled)"
            return self.reason

    def _probe(self) -> None:
        reason = write_probe(self.engine)
        with self._lock:
            self.reason, self.checked, self._running_since = reason, time.monotonic(), None
        if reason:
            logger.error("health: %s", reason, extra={"action": "health.write_refused"})


def database_reachable(engine: Engine) -> str | None:
    """Why the database cannot be read (None: it answers)."""
    try:
        with read_session(engine) as session:  # a read: no write lock to wait for
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"the database cannot be reached: {database_reason(exc)}"
    return None
