"""The built-in IMAP poller: stores each unseen mail through the durable ingest path, then marks it seen.

A mail is marked seen (or moved) only after its lead is committed, so a crash in between re-reads it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass

from imap_tools.utils import encode_folder
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from lead_engine.core.alerts import clear_alert, raise_alert, send_alerts
from lead_engine.core.db import database_reason, get_engine, run_migrations
from lead_engine.core.errors import LeadEngineError
from lead_engine.core.inbound import PreparedIngest, prepare_ingest
from lead_engine.core.ingest import IngestOutcome, write_batch_with_retry
from lead_engine.core.outbound import outbound_http
from lead_engine.core.settings import Settings
from lead_engine.mailbox import (
    CONNECTION_ERRORS,
    MailboxConnection,
    check_result,
    close_mailbox,
    fetch_raw,
    open_mailbox,
)
from lead_engine.reconciler import reconcile_mailbox

logger = logging.getLogger(__name__)

SOURCE = "imap"
# Rejected mails keep this keyword (and \Flagged) so the search for new mail skips them without marking them read.
REJECTED_KEYWORD = "LeadEngineRejected"
UNSEEN = f"UNSEEN UNKEYWORD {REJECTED_KEYWORD}"
CHUNK = 50
MAX_BACKOFF = 60.0
# After this many failed connects in a row (about 7 s of back-off) the operator is told, once.
ALERT_AFTER_FAILURES = 3
MAILBOX_ALERT = "imap:mailbox"
IDLE_SLICE_SECONDS = 5.0
# The only database errors about the mail itself (a value the column cannot hold): such a mail is flagged.
# Any other database error leaves the mail unseen, so the next poll stores it once the database is fine again.
MAIL_DATA_ERRORS = (DataError,)


@dataclass
class PollResult:
    """What one poll did: mails stored as new leads, repeats of stored ones, and mails refused."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


def _mark_done(connection: MailboxConnection, uids: list[str], settings: Settings) -> None:
    if not uids:
        return
    client, uid_set = connection.box.client, ",".join(uids)
    check_result(client.uid("STORE", uid_set, "+FLAGS", "(\\Seen)"), "STORE \\Seen")
    folder = settings.imap_processed_folder
    if not folder:
        return
    target = encode_folder(folder).decode("ascii")  # modified UTF-7, quoted: ASCII by definition
    if "MOVE" in connection.capabilities:
        check_result(client.uid("MOVE", uid_set, target), "MOVE")
        return
    check_result(client.uid("COPY", uid_set, target), "COPY")
    check_result(client.uid("STORE", uid_set, "+FLAGS", "(\\Deleted)"), "STORE \\Deleted")
    if "UIDPLUS" in connection.capabilities:
        # A plain EXPUNGE would also remove mails other clients marked deleted.
        check_result(client.uid("EXPUNGE", uid_set), "UID EXPUNGE")


def reject_mail(connection: MailboxConnection, uid: str, reason: str, *, message_id: str = "") -> None:
    """Flag a mail that cannot be stored and log why; it stays in the folder for a person to look at."""
    logger.warning(
        "mail not stored: %s",
        reason,
        extra={"action": "imap.rejected", "uid": uid, "message_id": message_id or "-", "reason": reason},
    )
    client = connection.box.client
    result = client.uid("STORE", uid, "+FLAGS", f"(\\Flagged {REJECTED_KEYWORD})")
    if result[0] != "OK":
        # Servers without custom keywords: mark it read instead, so it is not fetched again and again.
        check_result(client.uid("STORE", uid, "+FLAGS", "(\\Flagged \\Seen)"), "STORE \\Flagged")


def store_mails(engine: Engine, items: list[PreparedIngest]) -> list[IngestOutcome | Exception]:
    """Commit a group of mails; a mail the database fails on alone is returned as its error, a lost link is raised."""
    try:
        return list(write_batch_with_retry(engine, items))
    except SQLAlchemyError as exc:
        if _connection_lost(exc):
            raise
        if len(items) == 1:
            return [exc]
    # One mail the database fails on must not hold back the others of its group.
    return [result for item in items for result in store_mails(engine, [item])]


def _connection_lost(exc: SQLAlchemyError) -> bool:
    # No further write can succeed in this poll: trying the mails one by one would only repeat the failure.
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _prepare(connection: MailboxConnection, uid: str, size: int, settings: Settings) -> PreparedIngest | str:
    limit = settings.max_body_bytes
    if size > limit:
        return f"message is {size} bytes, over the {limit} byte limit"
    raw = fetch_raw(connection, uid)
    if raw is None:
        return ""
    if len(raw) > limit:
        return f"message is {len(raw)} bytes, over the {limit} byte limit"
    try:
        return prepare_ingest("message/rfc822", raw, source=SOURCE, channel="imap")
    except LeadEngineError as exc:
        return str(exc)
    except Exception as exc:  # the per-mail loop: one unreadable mail must not stop the others
        logger.exception("reading a mail failed", extra={"action": "imap.unreadable", "uid": uid})
        return f"unreadable message: {type(exc).__name__}: {exc}"


def _poll_chunk(
    connection: MailboxConnection, engine: Engine, settings: Settings, uids: list[str]
) -> tuple[PollResult, SQLAlchemyError | None]:
    result, trouble = PollResult(), None
    heads = connection.box.fetch(uid_list=uids, headers_only=True, mark_seen=False, bulk=True)
    sizes = {head.uid: (head.size_rfc822, (head.headers.get("message-id") or ("",))[0]) for head in heads}
    prepared: list[tuple[str, str, PreparedIngest]] = []
    for uid in uids:
        if uid not in sizes:
            continue
        size, message_id = sizes[uid]
        item = _prepare(connection, uid, size, settings)
        if isinstance(item, PreparedIngest):
            prepared.append((uid, message_id, item))
        elif item:
            reject_mail(connection, uid, item, message_id=message_id)
            result.rejected += 1
    outcomes = store_mails(engine, [item for _, _, item in prepared]) if prepared else []
    done: list[str] = []
    for (uid, message_id, _), outcome in zip(prepared, outcomes, strict=True):
        if isinstance(outcome, IngestOutcome):
            done.append(uid)
            result.duplicates += outcome.duplicate
            result.stored += not outcome.duplicate
            logger.info(
                "mail stored" if not outcome.duplicate else "mail already stored",
                extra={"action": "imap.stored", "uid": uid, "lead_id": outcome.lead_id, "duplicate": outcome.duplicate},
            )
        elif isinstance(outcome, SQLAlchemyError) and not isinstance(outcome, MAIL_DATA_ERRORS):
            logger.warning(
                "mail left unseen, the database failed: %s",
                database_reason(outcome),
                extra={"action": "imap.store_deferred", "uid": uid, "message_id": message_id or "-"},
            )
            trouble = trouble or outcome
        else:
            why = database_reason(outcome) if isinstance(outcome, SQLAlchemyError) else str(outcome)
            reject_mail(connection, uid, f"the database refused it: {why}", message_id=message_id)
            result.rejected += 1
    _mark_done(connection, done, settings)
    return result, trouble


def poll_mailbox(connection: MailboxConnection, engine: Engine, settings: Settings) -> PollResult:
    """Store every unseen mail of the selected folder, then mark it seen or move it; returns the counts.

    A database error that is not about one mail's data is raised once the other mails are done; its mails stay unseen.
    """
    total, trouble = PollResult(), None
    uids = connection.box.uids(UNSEEN)
    for start in range(0, len(uids), CHUNK):
        chunk, error = _poll_chunk(connection, engine, settings, uids[start : start + CHUNK])
        total.stored += chunk.stored
        total.duplicates += chunk.duplicates
        total.rejected += chunk.rejected
        trouble = trouble or error
    if trouble is not None:
        raise trouble  # the run loop reports the database and backs off; the next poll retries those mails
    return total


def wait_for_mail(connection: MailboxConnection | None, stop: threading.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` or until new mail arrives (IMAP IDLE where the server offers it); False if the link broke.

    IDLE runs in slices of a few seconds, so a stop request is never kept waiting for long.
    """
    if connection is None or "IDLE" not in connection.capabilities:
        stop.wait(seconds)
        return True
    # RFC 2177: re-issue IDLE at least every 29 minutes.
    deadline = time.monotonic() + min(seconds, 25 * 60)
    idle = connection.box.idle
    try:
        idle.start()
        try:
            # Mail that arrived during the last poll is announced in the answers to its commands (or to IDLE
            # itself), which imaplib keeps aside: poll again at once rather than wait for the next one.
            arrived = connection.box.client.untagged_responses.pop("EXISTS", None)
            # One IDLE for the whole wait, read in slices: a change announced between two slices is not lost.
            while not arrived and not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                if idle.poll(timeout=min(left, IDLE_SLICE_SECONDS)):
                    break  # the server announced a change: poll now
        finally:
            idle.stop()
    except CONNECTION_ERRORS as exc:
        logger.warning("waiting for new mail failed: %s", exc, extra={"action": "imap.idle_failed"})
        return False
    return True


def report_mailbox(engine: Engine, settings: Settings, error: str | None) -> None:
    """Raise the alert that the mailbox cannot be read (and tell Slack once), or clear it; never raises."""
    try:
        if error is None:
            clear_alert(engine, MAILBOX_ALERT)
            return
        message = (
            f"The mailbox {settings.imap_user} on {settings.imap_host} cannot be read: {error[:200]}. "
            "Its mails wait there and are read once it can be reached again."
        )
        if raise_alert(engine, MAILBOX_ALERT, message):
            send_alerts(engine, settings, outbound_http(settings, timeout=settings.notify_timeout))
    except SQLAlchemyError as exc:
        logger.warning("mailbox alert not recorded: %s", database_reason(exc), extra={"action": "imap.alert_failed"})


def _idle_reason(settings: Settings) -> str | None:
    if not settings.imap_host:
        return "LEAD_ENGINE_IMAP_HOST not set"
    if not settings.imap_user:
        return "LEAD_ENGINE_IMAP_USER not set"
    return None


def run_poller(settings: Settings, stop: threading.Event) -> None:
    """Poll the mailbox every imap_poll_seconds until ``stop`` is set; errors back off and retry, never exit."""
    reason = _idle_reason(settings)
    if reason:
        logger.info("IMAP poller idle: %s", reason, extra={"action": "imap.idle"})
        stop.wait()
        return
    engine = get_engine(settings.database_url)
    where = {"host": settings.imap_host, "port": settings.imap_port, "folder": settings.imap_folder}
    logger.info("IMAP poller started", extra={"action": "imap.started", "mode": settings.imap_mode, **where})
    connection: MailboxConnection | None = None
    schema_ready = False
    failures = unreachable = 0
    while not stop.is_set():
        try:
            if not schema_ready:
                run_migrations(engine)
                schema_ready = True
            if connection is None:
                connection = open_mailbox(settings)
                logger.info("connected to the mailbox", extra={"action": "imap.connected", **where})
                unreachable = 0
                report_mailbox(engine, settings, None)  # an alert raised before (by this or an earlier run) is over
            if settings.imap_mode == "reconcile":
                found = reconcile_mailbox(connection, engine, settings)
                if found.recovered or found.rejected:
                    logger.info("reconciliation done", extra={"action": "imap.reconciled", **vars(found)})
            else:
                result = poll_mailbox(connection, engine, settings)
                if result.stored or result.duplicates or result.rejected:
                    logger.info("poll done", extra={"action": "imap.polled", **vars(result)})
            failures = 0
        except SQLAlchemyError as exc:
            failures += 1
            # The mails stay unseen on the server; the next poll stores them.
            logger.warning("database failed: %s", database_reason(exc), extra={"action": "imap.store_failed"})
        except CONNECTION_ERRORS as exc:
            failures += 1
            logger.warning("mailbox connection failed: %s", exc, extra={"action": "imap.connection_failed", **where})
            if connection is None:
                unreachable += 1
                if unreachable == ALERT_AFTER_FAILURES:
                    report_mailbox(engine, settings, str(exc))
            if connection is not None:
                close_mailbox(connection)
                connection = None
        except Exception:  # the outermost loop: the poller outlives any one failing poll
            failures += 1
            logger.exception("poll failed", extra={"action": "imap.poll_failed"})
            if connection is not None:
                close_mailbox(connection)
                connection = None
        if failures:
            stop.wait(min(2.0 ** (failures - 1), MAX_BACKOFF))
        elif not wait_for_mail(connection, stop, settings.imap_poll_seconds) and connection is not None:
            close_mailbox(connection)
            connection = None
    if connection is not None:
        close_mailbox(connection)
    logger.info("IMAP poller stopped", extra={"action": "imap.stopped"})


def main(settings: Settings) -> None:
    """Run the poller until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_poller(settings, stop)
