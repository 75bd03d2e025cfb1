"""Mailbox reconciliation: beside n8n, every mail of the last days that has no lead yet becomes one.

It reads the folder by UID (under its UIDVALIDITY), never by the \\Seen flag and never changes a flag, so a
mail n8n marked read and then lost, skipped or had refused is still found. Mails younger than a grace period
are left to n8n; a cursor per folder remembers up to which UID every mail has a lead.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.db import read_session
from lead_engine.core.errors import LeadEngineError
from lead_engine.core.inbound import PreparedIngest, message_id_key, prepare_email, read_inbound
from lead_engine.core.ingest import RECONCILIATION_CHANNEL, write_batch_with_retry
from lead_engine.core.parsing.profiles import FREE_TEXT, detect_profile
from lead_engine.core.reconciliation import hash_keys, read_cursor, save_cursor, stored_keys
from lead_engine.core.settings import Settings
from lead_engine.mailbox import MailboxConnection, check_result, fetch_raw

logger = logging.getLogger(__name__)

MIME = "message/rfc822"
CHUNK = 200
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID = re.compile(rb"\bUID (\d+)")


@dataclass
class ReconcileResult:
    """What one pass found: mails that already had a lead, mails recovered, refused, and left to n8n for now."""

    known: int = 0
    recovered: int = 0
    rejected: int = 0
    waiting: int = 0


def mailbox_name(settings: Settings) -> str:
    """The folder's name in the cursor table: user, server and folder."""
    return f"{settings.imap_user}@{settings.imap_host}:{settings.imap_port}/{settings.imap_folder}"


def _imap_date(day: datetime) -> str:
    # IMAP dates use English month names whatever the locale: 01-Dec-2026.
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


def _heads(connection: MailboxConnection, uids: list[int]) -> dict[int, tuple[datetime | None, str]]:
    """Arrival time (INTERNALDATE) and Message-ID of each UID, in one FETCH."""
    if not uids:
        return {}
    result = connection.box.client.uid(
        "FETCH", ",".join(map(str, uids)), "(INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
    )
    check_result(result, "FETCH")
    heads: dict[int, tuple[datetime | None, str]] = {}
    for part in result[1]:
        if not isinstance(part, tuple) or len(part) != 2:
            continue
        meta, header = part
        uid = _UID.search(meta)
        if uid is None:
            continue
        stamp = imaplib.Internaldate2tuple(meta)
        arrived = datetime(*stamp[:6], tzinfo=UTC) if stamp else None
        message_id = str(email.message_from_bytes(header, policy=email.policy.compat32).get("Message-ID", ""))
        heads[int(uid[1])] = (arrived, message_id.strip())
    return heads


def _arrived(heads: dict[int, tuple[datetime | None, str]], uid: int) -> datetime:
    # A mail gone meanwhile, or without a readable INTERNALDATE, is not young: it is looked at (and skipped if gone).
    arrived = heads[uid][0] if uid in heads else None
    return arrived or datetime.min.replace(tzinfo=UTC)


def _prepare(connection: MailboxConnection, uid: int, settings: Settings) -> tuple[PreparedIngest, list[str]] | str:
    """The mail ready to store, with the content-hash keys another path may have stored it under; or why not."""
    raw = fetch_raw(connection, str(uid))
    if raw is None:
        return ""
    if len(raw) > settings.max_body_bytes:
        return f"message is {len(raw)} bytes, over the {settings.max_body_bytes} byte limit"
    try:
        inbound = read_inbound(MIME, raw, strict=True)
        profile = detect_profile(sender=inbound.sender, subject=inbound.subject, text=inbound.text or inbound.html)
        inbound.source = "email" if profile is FREE_TEXT else profile.name
        item = prepare_email(inbound, MIME, raw, channel=RECONCILIATION_CHANNEL)
    except LeadEngineError as exc:
        return str(exc)
    return item, hash_keys(inbound)


def reconcile_mailbox(
    connection: MailboxConnection, engine: Engine, settings: Settings, *, now: datetime | None = None
) -> ReconcileResult:
    """Store every mail of the last ``imap_reconcile_days`` days that has no lead yet; returns the counts.

    A database error is raised before the cursor moves, so the next pass checks those mails again.
    """
    now = now or datetime.now(UTC)
    result, name = ReconcileResult(), mailbox_name(settings)
    status = connection.box.folder.status(settings.imap_folder, ["UIDVALIDITY"])
    uidvalidity = int(status["UIDVALIDITY"])
    with read_session(engine) as session:
        checked = read_cursor(session=session, mailbox=name, uidvalidity=uidvalidity)
    since = _imap_date(now - timedelta(days=settings.imap_reconcile_days))
    # "n:*" always matches the newest mail, even below n: keep only UIDs above the cursor.
    uids = sorted(uid for uid in map(int, connection.box.uids(f"UID {checked + 1}:* SINCE {since}")) if uid > checked)
    cutoff = now - timedelta(seconds=settings.imap_reconcile_after_seconds)
    for start in range(0, len(uids), CHUNK):
        chunk = uids[start : start + CHUNK]
        heads = _heads(connection, chunk)
        # UIDs grow with arrival: from the first mail still in n8n's grace period on, the rest waits too.
        young = next((index for index, uid in enumerate(chunk) if _arrived(heads, uid) > cutoff), None)
        ready = chunk if young is None else chunk[:young]
        if young is not None:
            result.waiting += len(uids) - start - len(ready)
        _reconcile_chunk(connection, engine, settings, ready, heads, result)
        if ready:
            with Session(engine) as session, session.begin():
                save_cursor(session=session, mailbox=name, uidvalidity=uidvalidity, last_uid=max(ready))
        if young is not None:
            break
    return result


def _reconcile_chunk(
    connection: MailboxConnection,
    engine: Engine,
    settings: Settings,
    uids: list[int],
    heads: dict[int, tuple[datetime | None, str]],
    result: ReconcileResult,
) -> None:
    by_message_id = {uid: message_id_key(heads.get(uid, (None, ""))[1]) for uid in uids}
    with read_session(engine) as session:
        known = stored_keys(session=session, keys=[key for key in by_message_id.values() if key])
    missing: list[tuple[int, PreparedIngest, list[str]]] = []
    for uid in uids:
        if by_message_id[uid] in known:
            result.known += 1
            continue
        prepared = _prepare(connection, uid, settings)
        if isinstance(prepared, str):
            if prepared:
                result.rejected += 1
                logger.warning(
                    "mail not recovered: %s",
                    prepared,
                    extra={"action": "imap.reconcile_rejected", "uid": uid, "reason": prepared},
                )
            continue
        missing.append((uid, *prepared))
    if not missing:
        return
    with read_session(engine) as session:
        hashed = stored_keys(session=session, keys=[key for _, _, keys in missing for key in keys])
    items = [(uid, item) for uid, item, keys in missing if not hashed.intersection(keys)]
    result.known += len(missing) - len(items)
    outcomes = write_batch_with_retry(engine, [item for _, item in items]) if items else []
    for (uid, _), outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, LeadEngineError):
            result.rejected += 1
            logger.warning("mail not recovered: %s", outcome, extra={"action": "imap.reconcile_rejected", "uid": uid})
            continue
        if outcome.duplicate:
            result.known += 1
            continue
        result.recovered += 1
        logger.warning(
            "mail recovered: it was in the mailbox, but no lead had come in for it",
            extra={"action": "imap.recovered", "uid": uid, "lead_id": outcome.lead_id},
        )
