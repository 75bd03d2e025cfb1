"""Record identifiers: time-ordered, so new rows append to the end of every index on them."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """A new identifier, time-ordered like a UUIDv7 (48-bit milliseconds, then 80 random bits).

    Ordered keys append to the end of each primary-key and lead_id index instead of dirtying a random
    page per row, which keeps every ingest commit small.
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"
