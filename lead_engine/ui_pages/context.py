"""What every page shares: the settings, the database engine, the logged-in operator, and flash messages."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.approvals import BulkAction, act_on_leads
from lead_engine.core.db import get_engine, read_session, run_migrations
from lead_engine.core.errors import LeadEngineError
from lead_engine.core.settings import Settings, get_settings
from lead_engine.ui_pages.widgets import escape_markdown

INBOX, LEAD, REVIEW, IMPORT, DASHBOARD, SETTINGS = (
    "ui_pages/inbox.py",
    "ui_pages/lead_detail.py",
    "ui_pages/review.py",
    "ui_pages/imports.py",
    "ui_pages/dashboard.py",
    "ui_pages/configuration.py",
)
ACTOR_KEY, FLASH_KEY = "actor", "flashes"
# The leads of the list last shown (an Inbox page or a Review queue), in its order: the lead page's previous/next.
# Kept per browser tab and, for links opened in a new tab, by a short token in the link (``list=``).
SEQUENCE_KEY, SEQUENCE_FROM, SEQUENCE_PARAM = "lead_sequence", "lead_sequence_from", "list"
KEPT_SEQUENCES = 2000


@st.cache_resource(show_spinner=False)
def _sequences() -> OrderedDict[str, tuple[str, list[str]]]:
    return OrderedDict()


def remember_sequence(lead_ids: list[str], shown_on: str) -> str:
    """Keep the order of the leads just shown, for previous/next on the lead page; returns the list's token."""
    st.session_state[SEQUENCE_KEY], st.session_state[SEQUENCE_FROM] = lead_ids, shown_on
    token = hashlib.sha256(" ".join([shown_on, *lead_ids]).encode()).hexdigest()[:16]
    kept = _sequences()
    kept[token] = (shown_on, lead_ids)
    kept.move_to_end(token)
    while len(kept) > KEPT_SEQUENCES:
        kept.popitem(last=False)
    return token


def remembered_sequence() -> tuple[str, list[str]]:
    """Where the lead page was opened from and that list's leads: by the link's token, else this tab's last list."""
    kept = _sequences().get(str(st.query_params.get(SEQUENCE_PARAM, "")))
    if kept is not None:
        return kept
    return str(st.session_state.get(SEQUENCE_FROM, "")), list(st.session_state.get(SEQUENCE_KEY, []))


@st.cache_resource(show_spinner=False)
def open_engine(database_url: str) -> Engine:
    """The process's engine for a database, migrated once."""
    engine = get_engine(database_url)
    run_migrations(engine)
    return engine


def current_settings() -> Settings:
    """The process-wide settings."""
    return get_settings()


def current_engine() -> Engine:
    """The engine of the configured database."""
    return open_engine(current_settings().database_url)


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only session: never takes the SQLite write lock."""
    with read_session(current_engine()) as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    """A session for use cases, which commit their own transactions."""
    with Session(current_engine()) as session:
        yield session


def current_actor() -> str:
    """The logged-in operator's name, recorded in the lead's event trail."""
    return str(st.session_state.get(ACTOR_KEY, "operator"))


def flash(kind: str, message: str) -> None:
    """Keep a message to show on the next run ("success" as a toast, "error" as an error box)."""
    st.session_state.setdefault(FLASH_KEY, []).append((kind, message))


def show_flashes() -> None:
    """Show and forget the kept messages."""
    for kind, message in st.session_state.pop(FLASH_KEY, []):
        if kind == "success":
            st.toast(escape_markdown(message), icon=":material/check_circle:")
        else:
            st.error(escape_markdown(message), icon=":material/error:")


BULK_DONE = {
    BulkAction.APPROVE: "Approved", BulkAction.REJECT: "Rejected", BulkAction.RESTORE: "Restored to review",
    BulkAction.RESYNC: "Queued to sync again", BulkAction.REPARSE: "Queued to parse again",
}  # fmt: skip


def run_bulk(action: BulkAction, lead_ids: list[str], reason: str = "") -> None:
    """One action on many leads, each on its own; flash how many went through and why the others did not."""
    with writing() as session:
        failed = act_on_leads(
            session=session, settings=current_settings(), lead_ids=lead_ids, action=action,
            actor=current_actor(), reason=reason,
        )  # fmt: skip
    done = len(lead_ids) - len(failed)
    if done:
        flash("success", f"{BULK_DONE[action]}: {done} lead{'s' * (done != 1)}.")
    for lead_id, message in failed.items():
        flash("error", f"{lead_id}: {message}")


def run_use_case(done: str, action: Callable[[Session], Any]) -> bool:
    """Run one use case in its own session (it commits); flash ``done`` or the error."""
    try:
        with writing() as session:
            action(session)
    except LeadEngineError as exc:
        flash("error", str(exc))
        return False
    flash("success", done)
    return True
