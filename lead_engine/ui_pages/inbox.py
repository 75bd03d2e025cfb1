"""Inbox: every lead, newest first, filtered and paged by the database; new leads appear by themselves."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from lead_engine.core.leads import STATUSES, count_by_status, list_leads, list_sources
from lead_engine.ui_pages import context
from lead_engine.ui_pages.widgets import STATUS_LOOK, lead_title, leads_frame, status_label

PERIODS = {"Any time": None, "Today": 0, "Last 7 days": 6, "Last 30 days": 29, "Custom range": -1}
PAGE_SIZES = (25, 50, 100, 200)
HEADLINE = ("needs_review", "ready", "synced", "retrying", "dead")


@dataclass(frozen=True)
class InboxFilters:
    """What the operator asked for; passed to ``list_leads`` as is."""

    q: str = ""
    statuses: tuple[str, ...] = ()
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: int | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def read_filters() -> InboxFilters:
    """The filter row: search, status, source, received period and minimum score."""
    with context.reading() as session:
        sources = list_sources(session=session)
    search, status, source, period, score = st.columns([3, 3, 2, 2, 2], vertical_alignment="bottom")
    q = search.text_input("Search", placeholder="Company, contact, e-mail, city, subject…", key="inbox_q")
    statuses = status.multiselect(
        "Status", STATUSES, format_func=status_label, placeholder="All statuses", key="inbox_status"
    )
    chosen = source.selectbox("Source", ["All sources", *sources], key="inbox_source")
    period_name = period.selectbox("Received", list(PERIODS), key="inbox_period")
    min_score = score.number_input("Min. score", min_value=0, max_value=100, value=0, step=5, key="inbox_score")
    since = until = None
    days = PERIODS[period_name]
    today = datetime.now(UTC).date()
    if days == -1:
        picked = st.date_input("Between", (today - timedelta(days=7), today), key="inbox_range")
        if isinstance(picked, tuple) and len(picked) == 2:
            since, until = _day_start(picked[0]), _day_start(picked[1] + timedelta(days=1))
    elif days is not None:
        since = _day_start(today - timedelta(days=days))
    return InboxFilters(
        q=q.strip(),
        statuses=tuple(statuses),
        source=None if chosen == "All sources" else chosen,
        since=since,
        until=until,
        min_score=int(min_score) or None,
    )


def show_counts() -> None:
    """Leads per status at a glance."""
    with context.reading() as session:
        counts = count_by_status(session=session)
    columns = st.columns(len(HEADLINE) + 1)
    columns[0].metric("All leads", f"{sum(counts.values()):,}", border=True)
    for column, status in zip(columns[1:], HEADLINE, strict=True):
        column.metric(STATUS_LOOK[status][0], f"{counts.get(status, 0):,}", border=True)


def turn_page(page: int) -> None:
    """Show another page of the results."""
    st.session_state["inbox_page"] = page


def open_lead(lead_id: str) -> None:
    """Go to the lead's page."""
    st.switch_page(context.LEAD, query_params={"id": lead_id})


def show_leads(filters: InboxFilters) -> None:
    """The counts, then one page of leads with paging and a way to open one."""
    show_counts()
    size = int(st.session_state.get("inbox_size", PAGE_SIZES[1]))
    page = max(1, int(st.session_state.get("inbox_page", 1)))
    with context.reading() as session:
        leads, total = list_leads(
            session=session,
            status=",".join(filters.statuses) or None,
            source=filters.source,
            q=filters.q or None,
            since=filters.since,
            until=filters.until,
            min_score=filters.min_score,
            limit=size,
            offset=(page - 1) * size,
        )
    if total == 0:
        if astuple(filters) == astuple(InboxFilters()):
            st.info("No leads yet. They appear here as soon as n8n or the IMAP poller posts to /api/ingest.")
        else:
            st.info("No lead matches these filters. Clear the search or widen the period.")
        return
    pages = max(1, -(-total // size))
    frame = leads_frame(leads)
    selection = st.dataframe(
        frame,
        hide_index=True,
        column_order=[name for name in frame.columns if name != "id"],
        column_config={"Score": st.column_config.ProgressColumn("Score", min_value=0, max_value=100, format="%d")},
        on_select="rerun",
        selection_mode="single-row",
        key=f"inbox_table_{page}_{size}",
    )
    rows = selection.selection.rows if selection else []
    if rows:
        open_lead(leads[rows[0]].id)
    first = (page - 1) * size + 1
    info, back, forward, size_box = st.columns([4, 1, 1, 1], vertical_alignment="center")
    info.caption(f"Leads {first:,}–{first + len(leads) - 1:,} of {total:,} · page {page} of {pages}")
    back.button(
        "Previous", icon=":material/chevron_left:", disabled=page <= 1, width="stretch",
        on_click=turn_page, args=(page - 1,),
    )  # fmt: skip
    forward.button(
        "Next", icon=":material/chevron_right:", disabled=page >= pages, width="stretch",
        on_click=turn_page, args=(page + 1,),
    )  # fmt: skip
    size_box.selectbox("Per page", PAGE_SIZES, index=PAGE_SIZES.index(size), key="inbox_size",
                       label_visibility="collapsed")  # fmt: skip
    picker, button = st.columns([4, 1], vertical_alignment="bottom")
    chosen = picker.selectbox(
        "Open a lead", [lead.id for lead in leads], format_func=lambda lead_id: _option(leads, lead_id),
        key="inbox_open",
    )  # fmt: skip
    if button.button("Open", type="primary", width="stretch") and chosen:
        open_lead(chosen)


def _option(leads: list, lead_id: str) -> str:
    lead = next(lead for lead in leads if lead.id == lead_id)
    return f"{status_label(lead.status)} · {lead_title(lead)}"


st.title("Inbox")
context.show_flashes()
current = read_filters()
# A new filter starts again at the first page (compared as a tuple: this script's classes are new each run).
if st.session_state.get("inbox_filters") != astuple(current):
    st.session_state["inbox_filters"] = astuple(current)
    st.session_state["inbox_page"] = 1
st.fragment(show_leads, run_every=context.current_settings().ui_refresh_seconds)(current)
