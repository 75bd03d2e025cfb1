"""Inbox: every lead, newest first, filtered and paged by the database; new leads appear by themselves."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from lead_engine.core.approvals import BulkAction
from lead_engine.core.db import read_session
from lead_engine.core.exports import leads_csv
from lead_engine.core.leads import STATUSES, count_by_status, list_leads, list_sources
from lead_engine.ui_pages import context
from lead_engine.ui_pages.widgets import (
    STATUS_LOOK,
    SYNC_OFF,
    explorer_records,
    leads_frame,
    reject_popover,
    status_label,
)

PERIODS = {"Any time": None, "Today": 0, "Last 7 days": 6, "Last 30 days": 29, "Custom range": -1}
PAGE_SIZES = (25, 50, 100, 200)
# The filters behind "More filters", with the value that filters nothing.
MORE_FILTERS: dict[str, Any] = {"inbox_source": "All sources", "inbox_period": "Any time", "inbox_score": 0}
HEADLINE = ("needs_review", "ready", "synced", "retrying", "dead")
# Table column → the sort key of list_leads.
SORT_KEYS = {
    "Status": "status", "Received": "received", "Source": "source", "Company": "company",
    "Contact": "contact", "E-mail": "email", "Score": "score", "City": "city",
}  # fmt: skip
DEFAULT_SORT = "-received"
# Columns in order, in pixels: the whole table fits a 1440 px screen beside the sidebar, the row tick boxes
# included; on a phone the first three (the lead's company and where it stands) fit without scrolling sideways.
WIDTHS = {
    "Open": 48, "Company": 160, "Status": 96, "Received": 112, "Score": 64, "Contact": 130, "E-mail": 140,
    "City": 90, "Source": 92,
}  # fmt: skip


@dataclass(frozen=True)
class InboxFilters:
    """What the operator asked for; passed to ``list_leads`` as is."""

    q: str = ""
    statuses: tuple[str, ...] = ()
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: int | None = None

    def query(self) -> dict[str, Any]:
        """The filters as ``list_leads`` takes them."""
        return {
            "status": ",".join(self.statuses) or None, "source": self.source, "q": self.q or None,
            "since": self.since, "until": self.until, "min_score": self.min_score,
        }  # fmt: skip


def export_button(filters: InboxFilters) -> None:
    """The whole filtered list (every page) as CSV, in the order shown; made when it is clicked."""
    engine, sort, query = (
        context.current_engine(),
        order_of(filters),
        filters.query(),
    )

    def export_csv() -> str:
        with read_session(engine) as session:
            return leads_csv(session=session, order=sort, **query)

    st.download_button(
        "Export CSV", export_csv, file_name="leads.csv", mime="text/csv", icon=":material/download:",
        on_click="ignore", help="Every lead of this list, not just this page, in the order shown.",
    )  # fmt: skip


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def read_filters() -> InboxFilters:
    """The filter row: search and status; source, received period and minimum score behind "More filters"."""
    with context.reading() as session:
        sources = list_sources(session=session)
    # One row that wraps: on a phone it takes two short lines, so the first lead shows without scrolling.
    row = st.container(horizontal=True, vertical_alignment="bottom")
    with row:
        q = st.text_input("Search", placeholder="Company, contact, e-mail, city, subject…", key="inbox_q")
        statuses = st.multiselect(
            "Status", STATUSES, format_func=status_label, placeholder="All statuses", key="inbox_status", width=260
        )
    more = sum(st.session_state.get(key, default) != default for key, default in MORE_FILTERS.items())
    with row.popover(f"More filters ({more})" if more else "More filters", icon=":material/filter_list:"):
        chosen = st.selectbox("Source", ["All sources", *sources], key="inbox_source")
        period_name = st.selectbox("Received", list(PERIODS), key="inbox_period")
        today = datetime.now(UTC).date()
        if PERIODS[period_name] == -1:
            picked = st.date_input("Between", (today - timedelta(days=7), today), key="inbox_range")
        min_score = st.number_input("Min. score", min_value=0, max_value=100, value=0, step=5, key="inbox_score")
    since = until = None
    days = PERIODS[period_name]
    if days == -1:
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
    """Leads per status at a glance, on one line (two on a phone)."""
    with context.reading() as session:
        counts = count_by_status(session=session)
    chips = [f"**{sum(counts.values()):,} leads**"] + [
        f":{STATUS_LOOK[status][1]}-badge[{STATUS_LOOK[status][0]} {counts.get(status, 0):,}]" for status in HEADLINE
    ]
    st.markdown(" ".join(chips))


def turn_page(page: int) -> None:
    """Show another page of the results."""
    st.session_state["inbox_page"] = page


def order_of(filters: InboxFilters) -> str:
    """The order asked for by a column's title; while searching without one, the best matches first."""
    chosen = st.session_state.get("inbox_sort")
    return str(chosen) if chosen else "relevance" if filters.q else DEFAULT_SORT


def sort_by(column: str) -> None:
    """Sort the whole filtered list by a column (again: the other way round), from the first page."""
    current = st.session_state.get("inbox_sort", DEFAULT_SORT)
    key = SORT_KEYS[column]
    st.session_state["inbox_sort"] = key if current == f"-{key}" else f"-{key}"
    st.session_state["inbox_page"] = 1
    reset_table()


def reset_table() -> None:
    """A fresh table widget: no column or row stays selected."""
    st.session_state["inbox_table"] = st.session_state.get("inbox_table", 0) + 1


def header(column: str, sort: str) -> str:
    """A column's title with an arrow when the list is sorted by it."""
    key = SORT_KEYS.get(column)
    if key is None or sort.removeprefix("-") != key:
        return column
    return f"{column} {'↓' if sort.startswith('-') else '↑'}"


def act_on_selected(action: BulkAction, lead_ids: list[str], reason: str = "") -> None:
    """A bulk action on the ticked rows; the table starts unticked again."""
    context.run_bulk(action, lead_ids, reason)
    reset_table()


def show_bulk_actions(lead_ids: list[str], in_explorer: list[str]) -> None:
    """What the operator can do with the ticked rows."""
    sync_on = context.current_settings().sync_enabled
    count, approve, reject, resync, reparse = st.columns([2, 1, 1, 1, 1], vertical_alignment="center")
    count.markdown(f"**{len(lead_ids)} selected**")
    approve.button(
        "Approve", icon=":material/thumb_up:", type="primary", width="stretch", key="bulk_approve",
        on_click=act_on_selected, args=(BulkAction.APPROVE, lead_ids),
    )  # fmt: skip
    with reject:
        reject_popover(
            "bulk_reject", len(lead_ids), lambda reason: act_on_selected(BulkAction.REJECT, lead_ids, reason),
            in_explorer=in_explorer,
        )  # fmt: skip
    resync.button(
        "Sync again", icon=":material/sync:", width="stretch", key="bulk_resync", disabled=not sync_on,
        help=None if sync_on else SYNC_OFF,
        on_click=act_on_selected, args=(BulkAction.RESYNC, lead_ids),
    )  # fmt: skip
    reparse.button(
        "Parse again", icon=":material/refresh:", width="stretch", key="bulk_reparse",
        on_click=act_on_selected, args=(BulkAction.REPARSE, lead_ids),
    )  # fmt: skip


def show_leads(filters: InboxFilters) -> None:
    """The counts, then one page of leads sorted as asked, with paging and bulk actions."""
    context.show_flashes()  # here: an action on ticked rows reruns only this part of the page
    show_counts()
    size = int(st.session_state.get("inbox_size", PAGE_SIZES[1]))
    page = max(1, int(st.session_state.get("inbox_page", 1)))
    sort = order_of(filters)
    query = filters.query()
    with context.reading() as session:
        leads, total = list_leads(session=session, order=sort, limit=size, offset=(page - 1) * size, **query)
    if total == 0:
        if astuple(filters) == astuple(InboxFilters()):
            st.info("No leads yet. New leads appear here by themselves as soon as the first e-mail arrives.")
        else:
            st.info("No lead matches these filters. Clear the search or widen the period.")
        return
    pages = max(1, -(-total // size))
    token = context.remember_sequence([lead.id for lead in leads], "inbox")
    frame = leads_frame(leads)
    frame.insert(0, "Open", [f"/lead?id={lead.id}&{context.SEQUENCE_PARAM}={token}" for lead in leads])
    config: dict[str, Any] = {
        name: st.column_config.Column(header(name, sort), width=WIDTHS[name]) for name in SORT_KEYS
    }
    config["Score"] = st.column_config.NumberColumn(header("Score", sort), format="%d", width=WIDTHS["Score"])
    config["Open"] = st.column_config.LinkColumn("Open", display_text="Open", width=WIDTHS["Open"])
    selection = st.dataframe(
        frame,
        hide_index=True,
        column_order=list(WIDTHS),
        column_config=config,
        on_select="rerun",
        height="content",  # the whole page of leads, no scrolling inside the table
        # Clicking a column's title selects the column: that sorts the whole list by it, not just this page.
        selection_mode=["multi-row", "single-column"],
        key=f"inbox_table_{st.session_state.get('inbox_table', 0)}",
    )
    columns = [name for name in selection.selection.columns if name in SORT_KEYS] if selection else []
    if columns:
        sort_by(columns[0])
        st.rerun()
    rows = selection.selection.rows if selection else []
    if rows:
        ticked = [leads[row] for row in rows]
        show_bulk_actions([lead.id for lead in ticked], in_explorer=explorer_records(ticked))
    first = (page - 1) * size + 1
    info, back, forward, size_box = st.columns([5, 1, 1, 1], vertical_alignment="bottom")
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
                       on_change=turn_page, args=(1,))  # fmt: skip


st.title("Inbox")
current = read_filters()
# A new filter starts again at the first page (compared as a tuple: this script's classes are new each run).
if st.session_state.get("inbox_filters") != astuple(current):
    st.session_state["inbox_filters"] = astuple(current)
    st.session_state["inbox_page"] = 1
st.fragment(show_leads, run_every=context.current_settings().ui_refresh_seconds)(current)
export_button(current)
