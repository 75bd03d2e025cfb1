"""Helpers for tests against a real dovecot: settings and environment pointing at it, lead mails, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from lead_engine.core.db import read_session
from lead_engine.core.models import Lead
from lead_engine.core.settings import Settings
from lead_engine.mailbox import MailboxConnection, close_mailbox, open_mailbox
from lead_engine.poller import PollResult, poll_mailbox
from tests.support.dovecot import Dovecot


def poller_settings(settings: Settings, dovecot: Dovecot, **changes: Any) -> Settings:
    """The test's settings pointed at the dovecot's plain IMAP port."""
    imap = {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_user": dovecot.user,
        "imap_password": SecretStr(dovecot.password),
        "imap_ssl": False,
        "imap_poll_seconds": 0.2,
    }
    return settings.model_copy(update={**imap, **changes})


def poller_env(settings: Settings, dovecot: Dovecot) -> dict[str, str]:
    """The environment a ``python -m lead_engine poller`` process reads the same settings from."""
    return {
        "LEAD_ENGINE_DATABASE_URL": settings.database_url,
        "LEAD_ENGINE_IMAP_HOST": "127.0.0.1",
        "LEAD_ENGINE_IMAP_PORT": str(dovecot.port),
        "LEAD_ENGINE_IMAP_USER": dovecot.user,
        "LEAD_ENGINE_IMAP_PASSWORD": dovecot.password,
        "LEAD_ENGINE_IMAP_SSL": "false",
        "LEAD_ENGINE_IMAP_POLL_SECONDS": "0.2",
    }


def lead_mail(number: int, *, message_id: str | None = "auto", padding: int = 0) -> bytes:
    """A TradingTwins-style notification; ``message_id=None`` leaves the header out."""
    header = f"Message-ID: <lead-{number}@tradingtwins.test>\r\n" if message_id == "auto" else ""
    if message_id not in ("auto", None):
        header = f"Message-ID: <{message_id}>\r\n"
    body = f"Firma: Muster {number} GmbH\r\nAnsprechpartner: Herr Max Muster\r\nE-Mail: max{number}@muster.de\r\n"
    return (
        f"From: noreply@tradingtwins.test\r\nTo: leads@example.test\r\nSubject: Neue Anfrage {number}\r\n{header}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}{'x' * padding}\r\n"
    ).encode()


def stored_leads(engine: Engine) -> list[Lead]:
    """Every lead in the database, oldest first."""
    with read_session(engine) as session:
        return list(session.exec(select(Lead).order_by(Lead.subject)))  # type: ignore[arg-type]


@contextmanager
def mailbox_connection(settings: Settings) -> Iterator[MailboxConnection]:
    """The poller's own connection, logged out at the end."""
    connection = open_mailbox(settings)
    try:
        yield connection
    finally:
        close_mailbox(connection)


def poll_once(settings: Settings, engine: Engine) -> PollResult:
    """Connect, poll once, disconnect."""
    with mailbox_connection(settings) as connection:
        return poll_mailbox(connection, engine, settings)


def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = 90.0) -> None:
    """Wait for ``condition``; the generous limit only stops a hung test, it measures nothing."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def log_has(path: Path, needle: str, count: int = 1) -> Callable[[], bool]:
    """A predicate: the process log holds ``needle`` at least ``count`` times."""
    return lambda: path.exists() and path.read_text(errors="replace").count(needle) >= count
