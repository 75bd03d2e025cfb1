"""Retrying what fails for a passing reason: a schedule per kind of job, a breaker per outside service."""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lead_engine.core.errors import RetryableError
from lead_engine.core.models import utcnow
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

# A Retry-After longer than this is not obeyed to the second: the schedule's own wait applies.
RETRY_AFTER_MAX_SECONDS = 6 * 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of job is retried: the wait after each failed attempt, then dead.

    ``schedule[n]`` is the wait after attempt n + 1 fails, so a job gets ``len(schedule) + 1`` attempts. Each
    wait varies by ±``jitter`` so jobs that failed together do not come back together; a server's
    Retry-After is honoured when it asks for longer (up to six hours).
    """

    schedule: tuple[float, ...]
    jitter: float = 0.2

    @property
    def max_attempts(self) -> int:
        """Attempts before the job is dead."""
        return len(self.schedule) + 1

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), or None when it was the last."""
        if attempt > len(self.schedule):
            return None
        wait = self.schedule[attempt - 1] * random.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            wait = max(wait, min(retry_after, RETRY_AFTER_MAX_SECONDS))
        return wait

    def total_seconds(self) -> float:
        """How long the schedule retries for, without jitter."""
        return sum(self.schedule)


@dataclass(eq=False)
class CircuitBreaker:
    """One outside service's health as this process sees it: closed (calls go), open (only probes go).

    It opens after ``threshold`` failed attempts in a row that span at least ``down_seconds`` (a service
    that fails half its calls still answers in between, and stays closed); then one probe is let through
    every ``probe_seconds`` (doubling up to ``max_probe_seconds``) until one succeeds and closes it.
    """

    service: str
    threshold: int = 5
    down_seconds: float = 10.0
    probe_seconds: float = 5.0
    max_probe_seconds: float = 60.0
    failures: int = 0
    failing_since: float = 0.0
    down_since: datetime | None = None
    next_probe: float = 0.0
    probe_wait: float = 0.0
    last_error: str = ""
    # Told when the service goes down and when it is back (raise and clear the operator alert).
    on_open: Callable[[CircuitBreaker], None] | None = None
    on_close: Callable[[CircuitBreaker], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_service(cls, service: str, settings: Settings) -> CircuitBreaker:
        """The breaker of one outside service, as the settings configure it."""
        return cls(
            service,
            threshold=settings.breaker_failures,
            down_seconds=settings.breaker_down_seconds,
            probe_seconds=settings.breaker_probe_seconds,
            max_probe_seconds=settings.breaker_max_probe_seconds,
        )

    @property
    def is_open(self) -> bool:
        """Whether the service counts as down."""
        return self.down_since is not None

    def allows(self) -> bool:
        """Whether a call may go out now; while open, the first caller after each probe interval is the probe."""
        with self._lock:
            if self.down_since is None:
                return True
            now = time.monotonic()
            if now < self.next_probe:
                return False
            self.probe_wait = min(max(self.probe_wait * 2, self.probe_seconds), self.max_probe_seconds)
            self.next_probe = now + self.probe_wait
            return True

    def seconds_to_probe(self) -> float:
        """Seconds until the next probe may go out (0 when closed)."""
        return max(0.0, self.next_probe - time.monotonic()) if self.is_open else 0.0

    def record_failure(self, error: str) -> bool:
        """Count a failed attempt; True when this one opened the breaker."""
        with self._lock:
            now = time.monotonic()
            if not self.failures:
                self.failing_since = now
            self.failures += 1
            self.last_error = error
            failing_for = now - self.failing_since
            if self.down_since is not None or self.failures < self.threshold or failing_for < self.down_seconds:
                return False
            self.down_since = utcnow()
            self.probe_wait = self.probe_seconds
            self.next_probe = time.monotonic() + self.probe_wait
        logger.warning(
            "%s counts as down after %d failed attempts in a row",
            self.service,
            self.failures,
            extra={"action": "breaker.opened", "service": self.service, "error": error[:300]},
        )
        self._tell(self.on_open)
        return True

    def record_success(self) -> bool:
        """The service answered; True when this closed an open breaker."""
        with self._lock:
            was_open = self.down_since is not None
            self.failures, self.down_since, self.probe_wait = 0, None, 0.0
        if was_open:
            logger.info("%s answers again", self.service, extra={"action": "breaker.closed", "service": self.service})
            self._tell(self.on_close)
        return was_open

    def _tell(self, listener: Callable[[CircuitBreaker], None] | None) -> None:
        if listener is None:
            return
        try:
            listener(self)
        except Exception:  # the alert is a courtesy: the jobs go on without it
            logger.exception("telling about %s failed", self.service, extra={"action": "breaker.listener_failed"})

    def describe(self) -> str:
        """'Company Explorer unreachable since 14:02 UTC' while open, else ''."""
        if self.down_since is None:
            return ""
        return f"{self.service} unreachable since {self.down_since:%Y-%m-%d %H:%M} UTC"


def schedule_until(total_seconds: float, steps: tuple[float, ...], *, longest: int = 10_000) -> tuple[float, ...]:
    """``steps``, then the last step repeated, until the waits add up to ``total_seconds`` (at most ``longest``)."""
    schedule: list[float] = []
    waited = 0.0
    for step in itertools.chain(steps, itertools.repeat(steps[-1])):
        if waited >= total_seconds or len(schedule) >= longest:
            break
        schedule.append(step)
        waited += step
    return tuple(schedule)


def retry_call(
    call: Callable[[], Any], *, retries: int, backoff: float, retry_after_max: float, breaker: CircuitBreaker | None
) -> Any:
    """Make one outside call, trying a passing failure again up to ``retries`` times within the attempt.

    Waits ``backoff``, then four times that (with jitter), or what Retry-After asks up to ``retry_after_max``;
    a breaker that opened meanwhile ends the retries.
    """
    for tried in range(retries + 1):
        try:
            return call()
        except RetryableError as exc:
            if tried == retries or (breaker is not None and breaker.is_open):
                raise
            wait = backoff * 4**tried * random.uniform(0.5, 1.0)
            if exc.retry_after is not None:
                if exc.retry_after > retry_after_max:
                    raise
                wait = max(wait, exc.retry_after)
            time.sleep(wait)
    raise AssertionError("unreachable")
