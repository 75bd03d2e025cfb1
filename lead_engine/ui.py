"""The Streamlit operator app's frame: page setup, login, navigation, and the embedded API thread."""

from __future__ import annotations

import math
import sys
from pathlib import Path

# ``streamlit run lead_engine/ui.py`` puts only this folder on the path; the package lives one level up.
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from lead_engine.core.alerts import list_active_alerts, raise_alert
from lead_engine.core.login_throttle import describe_key, login_throttle, throttle_keys
from lead_engine.core.logs import configure_logging
from lead_engine.core.operators import (
    SESSION_COOKIE,
    authenticate,
    close_session,
    login_configured,
    open_session,
    session_actor,
)
from lead_engine.embedded_api import EmbeddedApi, start_embedded_api
from lead_engine.ui_pages import context
from lead_engine.ui_pages.widgets import KEYBOARD_ONLY_STYLE, escape_markdown, set_cookie

TOKEN_KEY, SIGNED_OUT_KEY = "session_token", "signed_out"


@st.cache_resource(show_spinner=False)
def start_api() -> EmbeddedApi:
    """Start the embedded API once per process (Streamlit reruns this script on every click)."""
    return start_embedded_api(context.current_settings())


def show_login() -> None:
    """The login form; a correct password stores the operator's name in the session."""
    settings = context.current_settings()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/inbox: Lead Engine")
        st.caption("Sign in to watch, correct and sync incoming leads.")
        if not login_configured(settings):
            st.error(
                "Nobody can sign in yet. On the server, run `python -m lead_engine operator add YOUR-NAME` and "
                "restart Lead Engine."
            )
            return
        with st.form("login"):
            shared = settings.ui_password is not None
            username = st.text_input(
                "Name", placeholder="your name", help="Leave empty for the shared password." if shared else None
            )
            password = st.text_input("Password", type="password")
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
        if submitted:
            sign_in(username, password)


def sign_in(username: str, password: str) -> None:
    """Check the credentials, unless this name or browser must wait after failed attempts."""
    settings, throttle = context.current_settings(), login_throttle()
    keys = throttle_keys(username, st.context.ip_address)
    wait = throttle.wait_seconds(keys)
    if wait > 0:
        seconds = math.ceil(wait)
        when = f"{seconds} second{'s' * (seconds != 1)}" if wait < 120 else f"{math.ceil(wait / 60)} minutes"
        st.error(f"Too many failed sign-ins. Try again in {when}.")
        return
    actor = authenticate(settings, username, password)
    if actor is None:
        for key in throttle.failed(keys):
            message = f"UI sign-in locked for 15 minutes after 10 failed attempts with {describe_key(key)}"
            raise_alert(context.current_engine(), f"login_locked:{key}", message)
        st.error("Wrong name or password.")
        return
    throttle.succeeded(keys)
    with context.writing() as session:
        st.session_state[TOKEN_KEY] = open_session(session=session, settings=settings, actor=actor)
    st.session_state[context.ACTOR_KEY] = actor
    st.rerun()


def resume_session() -> None:
    """A browser that signed in before (a reload, a link opened in a new tab) carries on as its operator."""
    if context.ACTOR_KEY in st.session_state:
        return
    token = st.context.cookies.get(SESSION_COOKIE)
    if not isinstance(token, str):
        return
    with context.reading() as session:
        actor = session_actor(session=session, settings=context.current_settings(), token=token)
    if actor is not None:
        st.session_state[context.ACTOR_KEY], st.session_state[TOKEN_KEY] = actor, token


def keep_cookie() -> None:
    """Hand the browser its session cookie (again: each run renews its lifetime in the browser)."""
    token = st.session_state.get(TOKEN_KEY)
    if token:
        max_age = int(context.current_settings().ui_session_hours * 3600)
        set_cookie(f"{SESSION_COOKIE}={token}; Max-Age={max_age}; Path=/; SameSite=Strict")


def sign_out() -> None:
    """End this browser's session everywhere, forget the cookie, show the login."""
    with context.writing() as session:
        close_session(session=session, token=st.session_state.get(TOKEN_KEY))
    st.session_state.clear()
    st.session_state[SIGNED_OUT_KEY] = True


def show_sidebar() -> None:
    """Who is signed in, and the way out."""
    with st.sidebar:
        st.caption(escape_markdown(f"Signed in as {context.current_actor()}"))
        keep_cookie()
        st.button("Sign out", icon=":material/logout:", on_click=sign_out)


def show_alerts() -> None:
    """What the operator must know on every page: a source gone quiet, a mailbox that cannot be read."""
    with context.reading() as session:
        alerts = list_active_alerts(session=session)
    for alert in alerts:
        st.warning(
            escape_markdown(f"{alert.message} (since {alert.raised_at:%d %b %H:%M} UTC)"), icon=":material/warning:"
        )


def main() -> None:
    """Render the frame and run the chosen page."""
    st.set_page_config(page_title="Lead Engine", page_icon="📥", layout="wide")
    st.html(KEYBOARD_ONLY_STYLE)
    configure_logging(context.current_settings().log_level)
    context.current_engine()
    start_api()
    pages = [
        st.Page(context.INBOX, title="Inbox", icon=":material/inbox:", url_path="inbox", default=True),
        st.Page(context.LEAD, title="Lead", icon=":material/person:", url_path="lead"),
        st.Page(context.REVIEW, title="Review", icon=":material/rule:", url_path="review"),
        st.Page(context.IMPORT, title="Import", icon=":material/upload_file:", url_path="import"),
        st.Page(context.DASHBOARD, title="Dashboard", icon=":material/monitoring:", url_path="dashboard"),
        st.Page(context.SETTINGS, title="Settings", icon=":material/settings:", url_path="settings"),
    ]
    resume_session()
    signed_in = context.ACTOR_KEY in st.session_state
    # Navigation is set up before the login so a bookmarked page (e.g. /lead?id=…) opens after signing in.
    page = st.navigation(pages, position="sidebar" if signed_in else "hidden")
    if not signed_in:
        if st.session_state.get(SIGNED_OUT_KEY):
            set_cookie(f"{SESSION_COOKIE}=; Max-Age=0; Path=/; SameSite=Strict")
        show_login()
        return
    show_sidebar()
    show_alerts()
    page.run()


main()
