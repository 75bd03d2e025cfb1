"""Mailbox reconciliation's bookkeeping: how far each folder is checked, and whether a mail already has a lead."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlmodel import Session, col

from lead_engine.core.inbound import content_hash
from lead_engine.core.lead_fields import InboundEmail
from lead_engine.core.models import IdempotencyKey, MailboxCursor, utcnow

# Sources the same mail may have been stored under by another path (n8n's workflow, the plain poller).
OTHER_SOURCES = ("email", "imap")


def read_cursor(*, session: Session, mailbox: str, uidvalidity: int) -> int:
    """The UID up to which the folder is checked; 0 when it never was or its UIDVALIDITY changed since."""
    cursor = session.get(MailboxCursor, mailbox)
    return cursor.last_uid if cursor is not None and cursor.uidvalidity == uidvalidity else 0


def save_cursor(*, session: Session, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    """Remember how far the folder is checked (in the caller's transaction)."""
    cursor = session.get(MailboxCursor, mailbox) or MailboxCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=0)
    cursor.uidvalidity, cursor.last_uid, cursor.updated_at = uidvalidity, last_uid, utcnow()
    session.add(cursor)


def stored_keys(*, session: Session, keys: list[str]) -> set[str]:
    """Which of ``keys`` some lead already holds."""
    if not keys:
        return set()
    return set(session.scalars(select(col(IdempotencyKey.key)).where(col(IdempotencyKey.key).in_(keys))))


def hash_keys(email: InboundEmail) -> list[str]:
    """The content-hash keys this mail would have under its own source and under the other paths' sources."""
    sources = dict.fromkeys((email.source, *OTHER_SOURCES))
    return [f"hash:{content_hash(replace(email, source=source))}" for source in sources]
