"""The kinds of jobs a lead's changes queue, and the key of its "process" job (ingest and reparse share it)."""

from __future__ import annotations

PROCESS_JOB, SYNC_JOB = "process", "sync"
PROCESS_MAX_ATTEMPTS = 5


def process_job_key(lead_id: str) -> str:
    """The idempotency key of a lead's "process" jobs (ingest and every reparse share it)."""
    return f"process-{lead_id}"
