"""The IMAP connection the poller and mailbox reconciliation share: log in, select the folder, fetch a mail."""

from __future__ import annotations

import contextlib
import imaplib
from dataclasses import dataclass, field

from imap_tools import BaseMailBox, MailBox, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError

from lead_engine.core.settings import Settings

IMAP_TIMEOUT = 30.0
# Errors that mean the IMAP connection is gone or unusable: drop it and connect again.
CONNECTION_ERRORS = (OSError, imaplib.IMAP4.error, ImapToolsError)


@dataclass
class MailboxConnection:
    """A logged-in mailbox with the watched folder selected and the capabilities the server announced."""

    box: BaseMailBox
    capabilities: frozenset[str] = field(default_factory=frozenset)


def open_mailbox(settings: Settings) -> MailboxConnection:
    """Connect and log in to the configured mailbox and select the watched folder."""
    mailbox_class = MailBox if settings.imap_ssl else MailBoxUnencrypted
    box = mailbox_class(settings.imap_host or "", settings.imap_port, timeout=IMAP_TIMEOUT)
    password = settings.imap_password.get_secret_value() if settings.imap_password else ""
    box.login(settings.imap_user or "", password, initial_folder=settings.imap_folder)
    _, data = box.client.capability()
    capabilities = frozenset(data[-1].decode(errors="replace").upper().split()) if data and data[-1] else frozenset()
    folder = settings.imap_processed_folder
    if folder and not box.folder.exists(folder):
        box.folder.create(folder)
    return MailboxConnection(box=box, capabilities=capabilities)


def close_mailbox(connection: MailboxConnection) -> None:
    """Log out, ignoring a connection that is already gone."""
    with contextlib.suppress(*CONNECTION_ERRORS):
        connection.box.logout()


def check_result(result: tuple[str, list[object]], what: str) -> None:
    """Raise when an IMAP command did not answer OK."""
    if result[0] != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {result[0]} {result[1]!r}")


def fetch_raw(connection: MailboxConnection, uid: str) -> bytes | None:
    """The whole message of one UID without marking it seen; None when it is gone."""
    result = connection.box.client.uid("FETCH", uid, "(BODY.PEEK[])")
    check_result(result, "FETCH")
    for item in result[1]:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None  # expunged by someone else since the search
