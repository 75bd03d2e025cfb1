"""Mailbox reconciliation against a real dovecot: every mail without a lead becomes one, once, and no flag changes."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from lead_engine.core.db import read_session
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch_with_retry
from lead_engine.core.models import LeadEvent, MailboxCursor
from lead_engine.core.settings import Settings
from lead_engine.reconciler import ReconcileResult, reconcile_mailbox
from tests.support.dovecot import DOVEADM, Dovecot
from tests.support.imap_leads import (
    lead_mail,
    mailbox_connection,
    poller_env,
    poller_settings,
    stored_leads,
    wait_until,
)
from tests.support.servers import engine_process

pytestmark = [pytest.mark.imap, pytest.mark.slow]
SEEN = "\\Seen"


def reconcile(settings: Settings, engine: Engine, now: datetime | None = None) -> ReconcileResult:
    """One pass; by default as if run ten minutes from now, past the grace period n8n gets for every mail."""
    with mailbox_connection(settings) as connection:
        return reconcile_mailbox(connection, engine, settings, now=now or datetime.now(UTC) + timedelta(minutes=10))


def mark_all_seen(dovecot: Dovecot) -> None:
    # What n8n's Email Trigger does before its HTTP call runs.
    with dovecot.mailbox() as box:
        box.flag(box.uids("ALL"), SEEN, True)


def stored_by_n8n(engine: Engine, raw: bytes, *, source: str = "email") -> None:
    """The mail as the shipped workflow posts it: JSON fields, without the raw message."""
    text = raw.decode().split("\r\n\r\n", 1)[1]
    subject = next(line[9:] for line in raw.decode().split("\r\n") if line.startswith("Subject: "))
    body = {"source": source, "subject": subject, "raw_body": text, "sender": "noreply@tradingtwins.test"}
    message_id = next((line[12:] for line in raw.decode().split("\r\n") if line.startswith("Message-ID: ")), None)
    if message_id:
        body["message_id"] = message_id
    write_batch_with_retry(engine, [prepare_ingest("application/json", json.dumps(body).encode())])


def test_mails_read_by_someone_else_without_a_lead_are_recovered_once(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    cfg = poller_settings(settings, dovecot, imap_mode="reconcile")
    for number in (1, 2, 3):
        dovecot.deliver(lead_mail(number))
    stored_by_n8n(engine, lead_mail(2))  # n8n delivered this one; the other two it lost after marking them read
    mark_all_seen(dovecot)

    first = reconcile(cfg, engine)
    again = reconcile(cfg, engine)

    assert (first.recovered, first.known) == (2, 1)
    assert (again.recovered, again.known) == (0, 0)  # the cursor moved past them
    leads = stored_leads(engine)
    assert [lead.subject for lead in leads] == ["Neue Anfrage 1", "Neue Anfrage 2", "Neue Anfrage 3"]
    # The source comes from the sender profiles (a noreply@ sender reads as a contact form).
    assert [lead.source for lead in leads] == ["contact_form", "email", "contact_form"]
    with read_session(engine) as session:
        events = list(session.exec(select(LeadEvent).where(LeadEvent.actor == "reconciliation")))
    assert len(events) == 2 and all("recovered" in event.detail for event in events)
    # Reconciliation only reads: the flags stay as n8n left them.
    assert dovecot.flags() == [(SEEN,), (SEEN,), (SEEN,)]


def test_a_mail_n8n_stored_without_message_id_is_found_by_its_content(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    cfg = poller_settings(settings, dovecot, imap_mode="reconcile")
    mail = lead_mail(7, message_id=None)
    dovecot.deliver(mail)
    stored_by_n8n(engine, mail)  # stored under source "email"; reconciliation would call it "contact_form"
    result = reconcile(cfg, engine)
    assert (result.recovered, result.known) == (0, 1) and len(stored_leads(engine)) == 1


def test_a_mail_delivered_twice_is_one_lead(settings: Settings, engine: Engine, dovecot: Dovecot) -> None:
    cfg = poller_settings(settings, dovecot, imap_mode="reconcile")
    dovecot.deliver(lead_mail(1))
    dovecot.deliver(lead_mail(1))
    result = reconcile(cfg, engine)
    assert (result.recovered, result.known) == (1, 1) and len(stored_leads(engine)) == 1


def test_young_mails_are_left_to_n8n_until_the_grace_period_is_over(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    cfg = poller_settings(settings, dovecot, imap_mode="reconcile", imap_reconcile_after_seconds=300)
    dovecot.deliver(lead_mail(1))
    now = datetime.now(UTC)
    early = reconcile(cfg, engine, now=now)
    assert (early.recovered, early.waiting) == (0, 1) and stored_leads(engine) == []
    late = reconcile(cfg, engine, now=now + timedelta(seconds=301))
    assert late.recovered == 1


def test_mails_older_than_the_window_are_not_looked_at(settings: Settings, engine: Engine, dovecot: Dovecot) -> None:
    cfg = poller_settings(settings, dovecot, imap_mode="reconcile", imap_reconcile_days=2)
    dovecot.deliver(lead_mail(1))
    result = reconcile(cfg, engine, now=datetime.now(UTC) + timedelta(days=4))
    assert result == ReconcileResult() and stored_leads(engine) == []


def test_a_crash_before_the_cursor_moved_rechecks_without_a_second_lead(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    cfg = poller_settings(settings, dovecot, imap_mode="reconcile")
    dovecot.deliver(lead_mail(1))
    dovecot.deliver(lead_mail(2, message_id=None))
    assert reconcile(cfg, engine).recovered == 2
    with Session(engine) as session, session.begin():
        session.execute(delete(MailboxCursor))  # the leads were committed, the cursor never was
    again = reconcile(cfg, engine)
    assert (again.recovered, again.known) == (0, 2) and len(stored_leads(engine)) == 2


@pytest.mark.skipif(DOVEADM is None, reason="doveadm is not installed")
def test_a_new_uidvalidity_rechecks_the_folder(settings: Settings, engine: Engine, dovecot: Dovecot) -> None:
    cfg = poller_settings(settings, dovecot, imap_mode="reconcile")
    dovecot.deliver(lead_mail(1))
    dovecot.deliver(lead_mail(2))
    assert reconcile(cfg, engine).recovered == 2
    with read_session(engine) as session:
        [cursor] = session.exec(select(MailboxCursor))
    # The server renumbers the folder (a restore, a migration): the old cursor means nothing any more.
    subprocess.run(
        [str(DOVEADM), "-c", str(dovecot.config), "mailbox", "update", "-u", dovecot.user, "--uid-validity",
         str(cursor.uidvalidity + 1000), "INBOX"],
        check=True, capture_output=True,
    )  # fmt: skip
    dovecot.deliver(lead_mail(3))
    result = reconcile(cfg, engine)
    assert (result.recovered, result.known) == (1, 2)
    with read_session(engine) as session:
        [cursor_after] = session.exec(select(MailboxCursor))
    assert cursor_after.uidvalidity == cursor.uidvalidity + 1000


def test_poller_process_in_reconcile_mode_recovers_and_changes_no_flag(
    settings: Settings, engine: Engine, dovecot: Dovecot, tmp_path: Path
) -> None:
    env = {
        **poller_env(settings, dovecot),
        "LEAD_ENGINE_IMAP_MODE": "reconcile",
        "LEAD_ENGINE_IMAP_RECONCILE_AFTER_SECONDS": "0",
    }
    dovecot.deliver(lead_mail(1))
    with engine_process("poller", env, cwd=tmp_path):
        wait_until(lambda: len(stored_leads(engine)) == 1, "the mail to be recovered")
        mark_all_seen(dovecot)
        dovecot.deliver(lead_mail(2))
        wait_until(lambda: len(stored_leads(engine)) == 2, "the second mail to be recovered")
    assert dovecot.flags() == [(SEEN,), ()]
    log = (tmp_path / "poller.log").read_text()
    assert log.count("imap.recovered") == 2, log
