"""The kinds of jobs a lead's changes queue, and the key of its "process" job (ingest and reparse share it)."""

from __future__ import annotations

from lead_engine.core.retry import RetryPolicy
from lead_engine.core.settings import Settings

PROCESS_JOB, SYNC_JOB = "process", "sync"
# Parsing fails again only for a passing reason (the database, an LLM timeout): a few tries, then review.
PROCESS_POLICY = RetryPolicy(schedule=(1.0, 10.0, 60.0, 300.0))
PROCESS_MAX_ATTEMPTS = PROCESS_POLICY.max_attempts


def sync_policy(settings: Settings) -> RetryPolicy:
    """Sync retries on `sync_retry_schedule`; after its last wait's attempt fails the lead is dead."""
    return RetryPolicy(schedule=tuple(settings.sync_retry_schedule))


def process_job_key(lead_id: str) -> str:
    """The idempotency key of a lead's "process" jobs (ingest and every reparse share it)."""
    return f"process-{lead_id}"
