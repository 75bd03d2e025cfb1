"""Settings: the active configuration with secrets masked, the embedded API, and connection tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lead_engine.core.connection_checks import CHECKS
from lead_engine.core.operators import hash_password
from lead_engine.core.qualification.rules import DEFAULT_RULES_FILE, rules_source
from lead_engine.core.settings import Settings
from lead_engine.embedded_api import start_embedded_api
from lead_engine.ui_pages import context
from lead_engine.ui_pages.widgets import escape_markdown, local_time

MASK = "•••••• (set)"
CHECKED_KEY = "connection_checks"
# Values that grant access even though they are not typed as secrets.
SECRET_NAMES = ("slack_webhook_url", "n8n_callback_url")


def shown_value(settings: Settings, name: str) -> str:
    """One setting as text, with secrets masked and a database password hidden."""
    value = getattr(settings, name)
    if value is None:
        return "not set"
    if isinstance(value, SecretStr) or name in SECRET_NAMES:
        return MASK
    if name == "database_url":
        try:
            return make_url(value).render_as_string(hide_password=True)
        except ArgumentError:
            return MASK
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "–"
    return str(value)


def configuration_frame(settings: Settings) -> pd.DataFrame:
    """Every setting with its environment variable and its (masked) value."""
    rows = []
    for name, info in type(settings).model_fields.items():
        alias = info.validation_alias
        variable = alias.choices[0] if alias is not None and hasattr(alias, "choices") else f"LEAD_ENGINE_{name}"
        rows.append({"Setting": str(variable).upper(), "Value": shown_value(settings, name)})
    return pd.DataFrame(rows)


def show_features(settings: Settings) -> None:
    """Which optional parts are on."""
    api = start_embedded_api(settings)
    sync, llm, imap, embedded = st.columns(4)
    sync.metric("Company Explorer sync", "on" if settings.sync_enabled else "off", border=True)
    llm.metric("LLM extraction", "on" if settings.llm_enabled else "off", border=True)
    mode = {"poll": "on", "reconcile": "reconciling"}[settings.imap_mode]
    imap.metric(
        "IMAP poller", mode if settings.imap_enabled else "off", border=True,
        help="Reconciling: beside n8n, only mails that have no lead yet are read in.",
    )  # fmt: skip
    embedded.metric("Embedded API", "running" if api.running else "off", border=True)
    if settings.embedded_api and not api.running:
        st.warning(f"Embedded API: {api.message}", icon=":material/warning:")
    else:
        st.caption(f"Embedded API: {api.message}")


def run_check(service: str) -> None:
    """Test one service with the settings in force now; keep its result beside the others' until its next test."""
    result = CHECKS[service](context.current_settings())
    st.session_state.setdefault(CHECKED_KEY, {})[service] = (result, datetime.now(UTC))


def show_checks() -> None:
    """A "test connection" button per outside service, each with the result of its last test."""
    st.subheader("Test connections")
    st.caption("The Slack test posts a short message to the channel.")
    results = st.session_state.get(CHECKED_KEY, {})
    for column, service in zip(st.columns(len(CHECKS)), CHECKS, strict=True):
        with column, st.container(border=True):
            st.markdown(f"**{service}**")
            st.button(
                "Test connection",
                key=f"check_{service}",
                width="stretch",
                on_click=run_check,
                args=(service,),
            )
            if service in results:
                result, at = results[service]
                text = escape_markdown(f"{result.message} (tested {local_time(at)})")
                if result.ok:
                    st.success(text, icon=":material/check_circle:")
                else:
                    st.error(text, icon=":material/error:")


def show_rules(settings: Settings) -> None:
    """The qualification rules in force, read-only, and whether the file on disk is valid."""
    source = rules_source(settings.rules_file)
    source.current()
    with st.expander("Qualification rules"):
        shipped = source.path == DEFAULT_RULES_FILE
        st.caption(
            ("The shipped defaults. " if shipped else f"From {escape_markdown(str(source.path))}. ")
            + "To change them, copy the file, edit it, set LEAD_ENGINE_RULES_FILE to the copy and check it first "
            "with `python -m lead_engine rules check FILE`; edits are picked up without a restart."
        )
        if source.error:
            st.error(
                "The file was changed but is not valid, so the last good rules stay in force:\n\n"
                + escape_markdown(source.error),
                icon=":material/error:",
            )
        try:
            text = source.path.read_text(encoding="utf-8")
        except OSError as exc:
            text = f"(cannot be read: {exc.strerror or exc})"
        st.code(text, language="toml", height=420)


def show_password_hasher() -> None:
    """Make a LEAD_ENGINE_UI_USERS entry without putting a password anywhere."""
    with st.expander("Add a named operator"):
        st.caption("Gives a line for LEAD_ENGINE_UI_USERS (comma-separate several); restart the app afterwards.")
        with st.form("hash_password", clear_on_submit=True):
            name = st.text_input("Name")
            password = st.text_input("Password", type="password")
            made = st.form_submit_button("Make entry")
        if made:
            if not name.strip() or ":" in name or "," in name or len(password) < 8:
                st.error("Give a name without ':' or ',' and a password of at least 8 characters.")
            else:
                st.code(f"{name.strip()}:{hash_password(password)}", language=None)


st.title("Settings")
current = context.current_settings()
show_features(current)
show_checks()
st.subheader("Active configuration")
st.caption("From the environment and .env; secrets are never shown.")
st.dataframe(configuration_frame(current), hide_index=True, height=420)
show_rules(current)
show_password_hasher()
