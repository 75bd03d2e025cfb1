"""The built-in IMAP poller against a real dovecot: mails become leads once, and nothing is ever lost."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import select

from lead_engine.core.alerts import list_active_alerts
from lead_engine.core.db import create_db_engine, read_session, run_migrations
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch_with_retry
from lead_engine.core.models import LeadEvent
from lead_engine.core.settings import Settings
from lead_engine.poller import (
    REJECTED_KEYWORD,
    PollResult,
)
from tests.support.dovecot import Dovecot
from tests.support.imap_leads import (
    lead_mail,
    log_has,
    mailbox_connection,
    poll_once,
    poller_env,
    poller_settings,
    stored_leads,
    wait_until,
)
from tests.support.servers import engine_process
from tests.support.sink_server import SinkState

pytestmark = [pytest.mark.imap, pytest.mark.slow]

POSTGRES_ADMIN_URL = os.environ.get("LEAD_ENGINE_TEST_POSTGRES_URL")
SEEN, FLAGGED = "\\Seen", "\\Flagged"
needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="LEAD_ENGINE_TEST_POSTGRES_URL is not set"),
]


def test_poll_stores_unseen_mails_as_received_leads_and_marks_them_seen(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    dovecot.deliver(lead_mail(1))
    dovecot.deliver(lead_mail(2))
    assert poll_once(poller_settings(settings, dovecot), engine) == PollResult(stored=2)
    leads = stored_leads(engine)
    assert [(lead.subject, lead.status, lead.source) for lead in leads] == [
        ("Neue Anfrage 1", "received", "imap"),
        ("Neue Anfrage 2", "received", "imap"),
    ]
    assert [SEEN in flags for flags in dovecot.flags()] == [True, True]
    with read_session(engine) as session:
        events = session.exec(select(LeadEvent).where(LeadEvent.lead_id == leads[0].id)).all()
    assert [(event.action, event.actor) for event in events] == [("received", "imap")]


@pytest.mark.parametrize(
    "again",
    [
        lead_mail(1),  # the identical message delivered twice: same Message-ID
        lead_mail(1, message_id="resent-1@relay.test"),  # a relay gave it a new Message-ID: same content
    ],
)
def test_redelivered_mail_maps_to_the_first_lead(
    settings: Settings, engine: Engine, dovecot: Dovecot, again: bytes
) -> None:
    config = poller_settings(settings, dovecot)
    dovecot.deliver(lead_mail(1))
    assert poll_once(config, engine) == PollResult(stored=1)
    dovecot.deliver(again)
    assert poll_once(config, engine) == PollResult(duplicates=1)
    assert len(stored_leads(engine)) == 1
    assert [SEEN in flags for flags in dovecot.flags()] == [True, True]


def test_mail_committed_before_a_crash_is_marked_seen_without_a_second_lead(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    # The commit went through but the process died before it could mark the mail seen.
    dovecot.deliver(lead_mail(1))
    with mailbox_connection(poller_settings(settings, dovecot)) as connection:
        uid = connection.box.uids("UNSEEN")[0]
        raw = connection.box.client.uid("FETCH", uid, "(BODY.PEEK[])")[1][0][1]
    [outcome] = write_batch_with_retry(engine, [prepare_ingest("message/rfc822", raw, source="imap")])
    assert dovecot.flags() == [()]
    assert poll_once(poller_settings(settings, dovecot), engine) == PollResult(duplicates=1)
    assert [lead.id for lead in stored_leads(engine)] == [getattr(outcome, "lead_id", None)]
    assert dovecot.flags() == [(SEEN,)]


@pytest.mark.parametrize(
    ("mail", "reason"),
    [
        (lead_mail(9, padding=6000), "over the 4096 byte limit"),  # larger than max_body_bytes
        (b"From: someone@example.test\r\n\r\n\r\n", "nothing to parse"),  # no subject, no body
    ],
)
def test_unusable_mail_stays_flagged_with_a_logged_reason_and_the_next_mail_is_stored(
    settings: Settings, engine: Engine, dovecot: Dovecot, caplog: pytest.LogCaptureFixture, mail: bytes, reason: str
) -> None:
    config = poller_settings(settings, dovecot, max_body_bytes=4096)
    dovecot.deliver(mail)
    dovecot.deliver(lead_mail(1))
    with caplog.at_level(logging.WARNING, logger="lead_engine.poller"):
        assert poll_once(config, engine) == PollResult(stored=1, rejected=1)
    rejected = [record for record in caplog.records if getattr(record, "action", None) == "imap.rejected"]
    assert len(rejected) == 1 and reason in getattr(rejected[0], "reason", "")
    refused, stored = dovecot.flags()
    assert SEEN not in refused and {FLAGGED, REJECTED_KEYWORD} <= set(refused)
    assert SEEN in stored
    assert [lead.subject for lead in stored_leads(engine)] == ["Neue Anfrage 1"]
    # The refused mail is left for a person, not fetched again on every poll.
    assert poll_once(config, engine) == PollResult()
    assert len(dovecot.flags()) == 2


@contextmanager
def refusing_subject(engine: Engine, subject: str, *, sqlstate: str = "23514") -> Iterator[None]:
    """A trigger that fails the insert of the lead with ``subject``: SQLSTATE ``sqlstate`` on PostgreSQL,
    always a constraint error (IntegrityError) on SQLite."""
    if engine.dialect.name == "sqlite":
        create = [
            "CREATE TRIGGER refuse_subject BEFORE INSERT ON leads "
            f"WHEN NEW.subject = '{subject}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
        drop = ["DROP TRIGGER refuse_subject"]
    else:
        create = [
            "CREATE FUNCTION refuse_subject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.subject = '{subject}' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{sqlstate}'; "
            "END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_subject BEFORE INSERT ON leads FOR EACH ROW EXECUTE FUNCTION refuse_subject()",
        ]
        drop = ["DROP TRIGGER refuse_subject ON leads", "DROP FUNCTION refuse_subject()"]
    with engine.begin() as connection:
        for statement in create:
            connection.execute(text(statement))
    try:
        yield
    finally:
        # The PostgreSQL database is shared by the whole run: the trigger must not outlive this test.
        with engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))


def test_mail_failing_a_database_constraint_stays_unseen_unflagged_and_the_others_are_stored(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    config = poller_settings(settings, dovecot)
    for number in (1, 2, 3):
        dovecot.deliver(lead_mail(number))
    with refusing_subject(engine, "Neue Anfrage 2"):
        # The database's trouble, not the mail's: the run loop backs off and the next poll tries again.
        with pytest.raises(IntegrityError):
            poll_once(config, engine)
        assert dovecot.flags() == [(SEEN,), (), (SEEN,)]
        assert [lead.subject for lead in stored_leads(engine)] == ["Neue Anfrage 1", "Neue Anfrage 3"]
    assert poll_once(config, engine) == PollResult(stored=1)
    assert dovecot.flags() == [(SEEN,), (SEEN,), (SEEN,)]
    assert len(stored_leads(engine)) == 3


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=needs_postgres)], indirect=True)
def test_mail_whose_data_the_database_refuses_is_flagged_and_the_others_are_stored(
    settings: Settings, engine: Engine, dovecot: Dovecot
) -> None:
    config = poller_settings(settings, dovecot)
    for number in (1, 2, 3):
        dovecot.deliver(lead_mail(number))
    # 22001 string_data_right_truncation: a value of this one mail that the column cannot hold (DataError).
    with refusing_subject(engine, "Neue Anfrage 2", sqlstate="22001"):
        assert poll_once(config, engine) == PollResult(stored=2, rejected=1)
    first, refused, third = dovecot.flags()
    assert first == third == (SEEN,)
    assert SEEN not in refused and {FLAGGED, REJECTED_KEYWORD} <= set(refused)
    assert poll_once(config, engine) == PollResult()


def test_processed_folder_receives_stored_mails(settings: Settings, engine: Engine, dovecot: Dovecot) -> None:
    config = poller_settings(settings, dovecot, imap_processed_folder="Processed")
    dovecot.deliver(lead_mail(1))
    assert poll_once(config, engine) == PollResult(stored=1)
    assert dovecot.flags("INBOX") == []
    assert dovecot.flags("Processed") == [(SEEN,)]
    assert len(stored_leads(engine)) == 1


def test_poller_process_stores_new_mail_and_stops_on_sigterm(
    settings: Settings, engine: Engine, dovecot: Dovecot, tmp_path: Path
) -> None:
    with engine_process("poller", poller_env(settings, dovecot), cwd=tmp_path) as process:
        dovecot.deliver(lead_mail(1))
        wait_until(lambda: len(stored_leads(engine)) == 1, "the mail to become a lead")
        wait_until(lambda: dovecot.flags() == [(SEEN,)], "the mail to be marked seen")
        dovecot.deliver(lead_mail(2))
        wait_until(lambda: len(stored_leads(engine)) == 2, "the second mail to become a lead")
    log = (tmp_path / "poller.log").read_text()
    assert process.returncode == 0, log
    assert "imap.stopped" in log
    assert dovecot.password not in log


def test_poller_process_reconnects_after_the_server_was_down_and_loses_nothing(
    settings: Settings, engine: Engine, dovecot: Dovecot, tmp_path: Path
) -> None:
    log = tmp_path / "poller.log"
    with engine_process("poller", poller_env(settings, dovecot), cwd=tmp_path) as process:
        dovecot.deliver(lead_mail(1))
        wait_until(lambda: len(stored_leads(engine)) == 1, "the first mail to become a lead")
        dovecot.stop()
        # The dropped session, then at least one refused reconnect: the poller keeps trying.
        wait_until(log_has(log, "imap.connection_failed", count=2), "the poller to notice the server is gone")
        dovecot.drop_into_maildir(lead_mail(2))
        dovecot.start()
        wait_until(lambda: len(stored_leads(engine)) == 2, "the mail that arrived during the outage to be stored")
        wait_until(lambda: dovecot.flags() == [(SEEN,), (SEEN,)], "both mails to be marked seen")
        assert process.poll() is None
    assert log_has(log, "imap.connected", count=2)(), log.read_text()


@contextmanager
def missing_postgres_database() -> Iterator[tuple[str, Callable[[], None]]]:
    """A URL naming a PostgreSQL database that does not exist yet, and a function that creates it."""
    assert POSTGRES_ADMIN_URL
    admin = create_engine(make_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"lead_engine_poller_{uuid.uuid4().hex[:10]}"

    def create() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))

    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False), create
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=needs_postgres)])
def test_poll_leaves_mail_unseen_when_the_database_is_unreachable(dovecot: Dovecot, backend: str) -> None:
    with missing_postgres_database() as (url, create):
        config = poller_settings(Settings(_env_file=None, database_url=url), dovecot)  # type: ignore[call-arg]
        engine = create_db_engine(url)
        dovecot.deliver(lead_mail(1))
        with pytest.raises(OperationalError):
            poll_once(config, engine)
        assert dovecot.flags() == [()]
        create()
        run_migrations(engine)
        assert poll_once(config, engine) == PollResult(stored=1)
        assert dovecot.flags() == [(SEEN,)]
        engine.dispose()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=needs_postgres)])
def test_poller_process_keeps_mail_unseen_until_the_database_is_reachable(
    dovecot: Dovecot, tmp_path: Path, backend: str
) -> None:
    log = tmp_path / "poller.log"
    with missing_postgres_database() as (url, create):
        settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
        engine = create_db_engine(url)
        with engine_process("poller", poller_env(settings, dovecot), cwd=tmp_path) as process:
            dovecot.deliver(lead_mail(1))
            wait_until(log_has(log, "imap.store_failed", count=2), "the poller to report the database")
            assert dovecot.flags() == [()]
            create()
            wait_until(lambda: _count_leads(engine) == 1, "the mail to be stored once the database exists")
            wait_until(lambda: dovecot.flags() == [(SEEN,)], "the mail to be marked seen")
            assert process.poll() is None
        engine.dispose()
    assert process.returncode == 0


def _count_leads(engine: Engine) -> int:
    try:
        return len(stored_leads(engine))
    except SQLAlchemyError:  # the poller has not created the schema yet
        return -1


def test_poller_without_imap_host_idles_until_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "poller.log"
    env = {"LEAD_ENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'leads.db'}"}
    with engine_process("poller", env, cwd=tmp_path) as process:
        wait_until(log_has(log, "IMAP poller idle: LEAD_ENGINE_IMAP_HOST not set"), "the idle message")
        assert process.poll() is None
    assert process.returncode == 0, log.read_text()


def test_a_mailbox_that_refuses_the_login_is_told_once_and_cleared_once_it_works(
    settings: Settings, engine: Engine, dovecot: Dovecot, sink: tuple[SinkState, str], tmp_path: Path
) -> None:
    env = {**poller_env(settings, dovecot), "LEAD_ENGINE_SLACK_WEBHOOK_URL": f"{sink[1]}/slack"}
    run_migrations(engine)
    with engine_process("poller", {**env, "LEAD_ENGINE_IMAP_PASSWORD": "wrong"}, cwd=tmp_path):
        wait_until(lambda: len(sink[0].on("/slack")) == 1, "the alert about the mailbox")
        wait_until(log_has(tmp_path / "poller.log", "imap.connection_failed", 5), "more failed logins")
    assert len(sink[0].on("/slack")) == 1  # one message, however many polls fail
    assert f"The mailbox {dovecot.user} on 127.0.0.1 cannot be read" in sink[0].on("/slack")[0].json["text"]
    with read_session(engine) as session:
        assert [alert.key for alert in list_active_alerts(session=session)] == ["imap:mailbox"]
    assert "wrong" not in (tmp_path / "poller.log").read_text().replace("wrong password", "")

    with engine_process("poller", env, cwd=tmp_path):
        wait_until(log_has(tmp_path / "poller.log", "imap.connected"), "the login to work")
        wait_until(lambda: _active_alerts(engine) == [], "the alert to be cleared")


def _active_alerts(engine: Engine) -> list[str]:
    with read_session(engine) as session:
        return [alert.key for alert in list_active_alerts(session=session)]


def test_poller_process_picks_up_new_mail_through_idle_long_before_its_next_poll(
    settings: Settings, engine: Engine, dovecot: Dovecot, tmp_path: Path
) -> None:
    # Polling every ten minutes: only IMAP IDLE can bring the mail in while the test waits.
    env = {**poller_env(settings, dovecot), "LEAD_ENGINE_IMAP_POLL_SECONDS": "600"}
    with engine_process("poller", env, cwd=tmp_path) as process:
        wait_until(log_has(tmp_path / "poller.log", "imap.connected"), "the poller to connect")
        dovecot.deliver(lead_mail(1))
        wait_until(lambda: len(stored_leads(engine)) == 1, "the mail to arrive through IDLE", timeout=60)
    assert process.returncode == 0  # a stop request does not wait out the ten minutes
