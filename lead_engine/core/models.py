"""Database tables: leads, the raw messages behind them, their audit events, jobs and idempotency keys."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, LargeBinary, Text, TypeDecorator, event, text
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from lead_engine.core.ids import new_id
from lead_engine.core.search import search_text


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC as a naive timestamp on every backend and gives back aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _time(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), index=index, nullable=nullable))


class RawMessage(SQLModel, table=True):
    """The untouched inbound request, kept forever so any lead can be parsed again."""

    __tablename__ = "raw_messages"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    content_type: str = Field(max_length=255)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    request_headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Lead(SQLModel, table=True):
    """A lead's current state: the canonical fields, its status and the optimistic-lock version."""

    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_status_received", "status", "received_at"),
        Index("ix_leads_source_received", "source", "received_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    raw_message_id: str = Field(foreign_key="raw_messages.id", max_length=32)
    # Filters on status or source use the composite indexes above (their leading column).
    status: str = Field(default="received", max_length=20)
    source: str = Field(default="email", max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), index=True, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    subject: str | None = Field(default=None, sa_column=Column(Text))
    sender: str | None = Field(default=None, max_length=512)

    company: str | None = Field(default=None, max_length=512)
    contact_name: str | None = Field(default=None, max_length=512)
    salutation: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    website: str | None = Field(default=None, max_length=512)
    street: str | None = Field(default=None, max_length=512)
    postal_code: str | None = Field(default=None, max_length=32)
    city: str | None = Field(default=None, max_length=255)
    country: str | None = Field(default=None, max_length=2)
    industry: str | None = Field(default=None, max_length=255)
    employees: str | None = Field(default=None, max_length=64)
    budget: str | None = Field(default=None, max_length=128)
    message: str | None = Field(default=None, sa_column=Column(Text))
    external_id: str | None = Field(default=None, max_length=255)

    score: int | None = None
    qualified: bool | None = None
    grade: str | None = Field(default=None, max_length=8)
    # Why the lead is where it is (parser doubts, the routing verdict); the score's own reasons are below.
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{"component", "points", "reason"}, …]: they add up to `score`.
    score_components: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The mail family the parser recognised ("tradingtwins", "hubspot", "free_text" …).
    template: str | None = Field(default=None, max_length=32)
    # A lead in review past this time is overdue (set when it enters review).
    review_due_at: datetime | None = _time(nullable=True)
    fields: dict[str, dict[str, Any]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    company_explorer_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1)
    # The searched values folded for search (core.search); kept on every write, never shown.
    search_text: str | None = Field(default=None, sa_column=Column(Text), exclude=True)


@event.listens_for(Lead, "before_insert")
@event.listens_for(Lead, "before_update")
def _keep_search_text(_mapper: Any, _connection: Any, lead: Lead) -> None:
    """Every ORM write of a lead refreshes its search text (bulk inserts and ``bump_lead`` set it themselves)."""
    lead.search_text = search_text(lead)


class LeadEvent(SQLModel, table=True):
    """One line of a lead's audit trail: who or what did what, when."""

    __tablename__ = "lead_events"
    __table_args__ = (Index("ix_lead_events_action_at", "action", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: str = Field(foreign_key="leads.id", index=True, max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(default="system", max_length=255)
    action: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Job(SQLModel, table=True):
    """A durable unit of work (process, sync, notify) claimed by workers under a lease."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "status", "run_after"),
        # At most one waiting job of a kind per lead: a second resync while one waits adds nothing, while one
        # that arrives during a run queues a follow-up (claim_jobs never runs two of a lead's kind at once).
        Index(
            "ux_jobs_queued_per_lead",
            "lead_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: str = Field(foreign_key="leads.id", index=True, max_length=32)
    kind: str = Field(max_length=32)
    status: str = Field(default="queued", max_length=16)
    attempts: int = 0
    max_attempts: int = 8
    run_after: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    locked_until: datetime | None = _time(nullable=True)
    locked_by: str | None = Field(default=None, max_length=128)
    idempotency_key: str = Field(default_factory=new_id, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class IdempotencyKey(SQLModel, table=True):
    """A key under which a request was seen (header key, webhook id, Message-ID or content hash)."""

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=300)
    lead_id: str = Field(foreign_key="leads.id", max_length=32)
    request_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ApprovalDay(SQLModel, table=True):
    """How many leads were approved without a person on one day (business time zone): the daily limit's count."""

    __tablename__ = "approval_days"

    day: date = Field(primary_key=True)
    auto_approved: int = 0


class HealthProbe(SQLModel, table=True):
    """One row the health check writes: proof that the database takes writes right now."""

    __tablename__ = "health_probes"

    id: int = Field(default=1, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    by: str = Field(default="", max_length=255)


class MailboxCursor(SQLModel, table=True):
    """How far mailbox reconciliation has checked one folder: every UID up to ``last_uid`` has a lead."""

    __tablename__ = "mailbox_cursors"

    mailbox: str = Field(primary_key=True, max_length=500)
    uidvalidity: int = Field(sa_type=BigInteger)
    last_uid: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class OperatorAlert(SQLModel, table=True):
    """Something the operator must know about (a source gone quiet, a mailbox refusing the login), raised once."""

    __tablename__ = "operator_alerts"

    key: str = Field(primary_key=True, max_length=300)
    message: str = Field(sa_column=Column(Text, nullable=False))
    raised_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    notified_at: datetime | None = _time(nullable=True)
    cleared_at: datetime | None = _time(nullable=True)


class LeadImport(SQLModel, table=True):
    """A spreadsheet brought in: the file as uploaded, its mapping and options, and how far its run got."""

    __tablename__ = "imports"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(default="system", max_length=255)
    filename: str = Field(max_length=255)
    file: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    encoding: str = Field(default="utf-8", max_length=32)
    delimiter: str = Field(default=",", max_length=4)
    header: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # A few values of each column, for the person mapping them.
    samples: dict[str, list[str]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Column header → lead field ("" leaves the column out).
    mapping: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {"dedup": "email", "on_match": "skip", "country": "DE"}
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="uploaded", max_length=16, index=True)
    # Whether the pass queued or running (or last finished) only checks, writing no lead.
    dry_run: bool = False
    rows_total: int = 0
    rows_done: int = 0
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    undo: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    locked_by: str | None = Field(default=None, max_length=128)
    locked_until: datetime | None = _time(nullable=True)
    finished_at: datetime | None = _time(nullable=True)


class ImportRow(SQLModel, table=True):
    """What the last pass of an import made of one data row (1 = the first row under the header)."""

    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_lead", "lead_id"),)

    import_id: str = Field(foreign_key="imports.id", primary_key=True, max_length=32)
    row: int = Field(primary_key=True)
    # new, merged, skipped or rejected
    outcome: str = Field(max_length=16)
    lead_id: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    # A merge's changes, for undo: {field: {"old", "new", "old_meta"}}.
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ImportMapping(SQLModel, table=True):
    """The mapping last used for one spreadsheet layout (its header signature), offered again."""

    __tablename__ = "import_mappings"

    signature: str = Field(primary_key=True, max_length=64)
    header: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    mapping: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class OperatorSession(SQLModel, table=True):
    """A signed-in browser: the hash of the token its cookie holds, whose it is and until when it counts."""

    __tablename__ = "operator_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    actor: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
