"""The states a lead and a job go through, and the groups of them the rest of the engine asks about."""

from __future__ import annotations

from enum import StrEnum


class LeadStatus(StrEnum):
    """Where a lead is: received → needs_review or ready → syncing → synced, with retrying, dead and rejected."""

    RECEIVED = "received"
    NEEDS_REVIEW = "needs_review"
    READY = "ready"
    SYNCING = "syncing"
    SYNCED = "synced"
    RETRYING = "retrying"
    DEAD = "dead"
    REJECTED = "rejected"


class JobStatus(StrEnum):
    """Where a job is: queued → running → done, back to queued for a retry, or dead."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


# A sync job pushes only a lead in one of these; any other means the job is stale (rejected, back in review…).
SYNCABLE = frozenset({LeadStatus.READY, LeadStatus.RETRYING, LeadStatus.SYNCING})
# Statuses a resync starts from: qualified or approved leads, synced or not. Others need an approval first.
RESYNCABLE = SYNCABLE | {LeadStatus.DEAD, LeadStatus.SYNCED}
# Accepted for sync, by the score or by a person.
ACCEPTED = RESYNCABLE
# Parsed at least once.
PROCESSED = frozenset(LeadStatus) - {LeadStatus.RECEIVED}
# A reparse refreshes the fields of leads in these but leaves their status alone.
KEEP_STATUS_ON_REPARSE = frozenset({LeadStatus.SYNCING, LeadStatus.SYNCED, LeadStatus.REJECTED})
# An operator's verdict outranks whatever the sync job reports.
FINAL_BY_OPERATOR = frozenset({LeadStatus.REJECTED})
OPEN_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)


class ImportStatus(StrEnum):
    """Where an import is: uploaded → queued → running → checked (a dry run) or done → undone; failed on an error."""

    UPLOADED = "uploaded"
    QUEUED = "queued"
    RUNNING = "running"
    CHECKED = "checked"
    DONE = "done"
    FAILED = "failed"
    UNDONE = "undone"


# An import in these is being worked on: no second run, no undo.
IMPORT_BUSY = frozenset({ImportStatus.QUEUED, ImportStatus.RUNNING})
