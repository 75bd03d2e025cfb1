"""Dashboard: leads per day by source, the review queue, the status funnel, sync success, arrivals, top errors."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from lead_engine.core.approvals import approval_stats
from lead_engine.core.stats import Dashboard, build_dashboard, format_duration
from lead_engine.ui_pages import context

PERIODS = {"7 days": 7, "30 days": 30, "90 days": 90}


def show_headline(figures: Dashboard) -> None:
    """The four numbers a sales lead asks for first."""
    total, rate, median, dead = st.columns(4)
    total.metric("Leads in period", f"{sum(day.count for day in figures.per_day):,}", border=True)
    sync = figures.sync
    rate.metric(
        "Sync success rate", "–" if sync.success_rate is None else f"{sync.success_rate:.0%}",
        help="Synced ÷ (synced + dead), over all leads.", border=True,
    )  # fmt: skip
    median.metric(
        "Median received → synced", format_duration(sync.median_seconds),
        help="From the moment a lead arrived to its first successful sync, for leads synced in the period.",
        border=True,
    )  # fmt: skip
    dead.metric("Couldn't sync", f"{sync.dead:,}", border=True)


def show_approvals(stats: dict[str, Any]) -> None:
    """The review queue and today's approvals, against the daily limit for approvals without a person."""
    waiting, overdue, auto, junk = st.columns(4)
    waiting.metric("Waiting for review", f"{stats['pending']:,}", border=True)
    overdue.metric(
        "Overdue", f"{stats['overdue']:,}", border=True,
        help=f"Waiting longer than {stats['expiry_hours']:g} hours; they come first in Review.",
    )  # fmt: skip
    limit = stats["daily_limit"]
    auto.metric(
        "Approved automatically today", f"{stats['auto_approved_today']:,} of {limit:,}" if limit else "off",
        border=True, help="Qualified, surely read leads go to sync without a person, up to this many a day.",
    )  # fmt: skip
    junk.metric(
        "Junk today",
        f"{stats['junk_today']:,}",
        border=True,
        help="Auto-replies, bounces and spam: see Review → Rejected.",
    )


def show_per_day(figures: Dashboard) -> None:
    """Leads per day, stacked by source."""
    st.subheader("Leads per day")
    if not figures.per_day:
        st.info("No leads in this period yet.")
        return
    rows = [{"Day": day.day.strftime("%d %b"), "Source": day.source, "Leads": day.count} for day in figures.per_day]
    frame = pd.DataFrame(rows)
    st.bar_chart(frame, x="Day", y="Leads", color="Source", stack=True, sort=False, height=320)


def show_funnel(figures: Dashboard) -> None:
    """How far leads get: received → processed → accepted → synced."""
    st.subheader("Status funnel")
    frame = pd.DataFrame(figures.funnel, columns=["Stage", "Leads"])
    st.bar_chart(frame, x="Stage", y="Leads", horizontal=True, sort=False, height=240)


CHANNEL_NAMES = {
    "api": "API (n8n, forms)",
    "imap": "Built-in mailbox poller",
    "reconciliation": "Recovered from the mailbox",
}


def show_channels(figures: Dashboard) -> None:
    """How the period's leads arrived; "recovered" ones had been missed by n8n."""
    st.subheader("How leads arrived")
    if not figures.by_channel:
        st.info("No leads in this period yet.")
        return
    rows = [(CHANNEL_NAMES.get(channel, channel), count) for channel, count in figures.by_channel]
    st.dataframe(pd.DataFrame(rows, columns=["Path", "Leads"]), hide_index=True)
    recovered = dict(figures.by_channel).get("reconciliation", 0)
    if recovered:
        st.warning(
            f"{recovered} lead(s) were found in the mailbox without having arrived through n8n. "
            "Check n8n's failed executions."
        )


def show_errors(figures: Dashboard) -> None:
    """The most frequent errors, as text."""
    st.subheader("Top error reasons")
    if not figures.top_errors:
        st.success("No errors recorded.")
        return
    st.dataframe(pd.DataFrame(figures.top_errors, columns=["Error", "Leads"]), hide_index=True)


st.title("Dashboard")
period = st.segmented_control("Period", list(PERIODS), default="30 days", required=True, key="dashboard_period")
with context.reading() as session:
    dashboard = build_dashboard(session=session, days=PERIODS[period or "30 days"])
    approvals = approval_stats(session=session, settings=context.current_settings())
show_headline(dashboard)
show_approvals(approvals)
chart, side = st.columns([3, 2], gap="large")
with chart:
    show_per_day(dashboard)
with side:
    show_funnel(dashboard)
channels, errors = st.columns([2, 3], gap="large")
with channels:
    show_channels(dashboard)
with errors:
    show_errors(dashboard)
