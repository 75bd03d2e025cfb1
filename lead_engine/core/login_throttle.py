"""Slowing down password guessing at the UI login: per name and per client, a growing wait, then a lockout."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock

logger = logging.getLogger(__name__)

# Failures allowed before each attempt must wait; the wait doubles per further failure, up to MAX_WAIT seconds.
FREE_FAILURES = 3
MAX_WAIT = 60.0
# This many failures in a row lock the name (or client) out for LOCKOUT seconds.
LOCKOUT_FAILURES = 10
LOCKOUT = 15 * 60.0
# Failures older than this are forgotten.
FORGET_AFTER = 60 * 60.0


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    """Failed logins per key ("name:anna", "client:10.0.0.7"), kept in this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = Lock()

    def wait_seconds(self, keys: list[str]) -> float:
        """How long these keys must wait before the next attempt (0: go ahead)."""
        now = self.clock()
        with self._lock:
            return max([0.0, *(self._current(key, now).blocked_until - now for key in keys)])

    def _current(self, key: str, now: float) -> _Record:
        record = self._records.get(key)
        if record is None or (now - record.last_failure > FORGET_AFTER and record.blocked_until <= now):
            record = self._records[key] = _Record()
        return record

    def failed(self, keys: list[str]) -> list[str]:
        """Count a failure for each key; returns the keys locked out by it (just now)."""
        now = self.clock()
        locked = []
        with self._lock:
            for key in keys:
                record = self._current(key, now)
                record.failures += 1
                record.last_failure = now
                if record.failures >= LOCKOUT_FAILURES:
                    if record.failures == LOCKOUT_FAILURES:
                        locked.append(key)
                    record.blocked_until = now + LOCKOUT
                elif record.failures >= FREE_FAILURES:
                    record.blocked_until = now + min(MAX_WAIT, 2.0 ** (record.failures - FREE_FAILURES))
        for key in locked:
            logger.warning("login locked out after repeated failures", extra={"action": "ui.login_locked", "key": key})
        return locked

    def clear(self) -> None:
        """Forget every failure (as a restart does)."""
        with self._lock:
            self._records.clear()

    def succeeded(self, keys: list[str]) -> None:
        """A correct login clears the keys' failures."""
        with self._lock:
            for key in keys:
                self._records.pop(key, None)


def throttle_keys(username: str, client: str | None) -> list[str]:
    """The keys one attempt counts against: the name tried and, when known, the client's address."""
    keys = [f"name:{username.strip().lower() or '(shared)'}"]
    return [*keys, f"client:{client}"] if client else keys


def describe_key(key: str) -> str:
    """A key in words: "the shared password", "the name anna", "the address 10.0.0.7"."""
    kind, _, value = key.partition(":")
    if kind == "name":
        return "the shared password" if value == "(shared)" else f"the name {value}"
    return f"the address {value}"


_THROTTLE = LoginThrottle()


def login_throttle() -> LoginThrottle:
    """The process-wide throttle (the UI serves every browser session from one process)."""
    return _THROTTLE
