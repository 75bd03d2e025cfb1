"""Review: leads waiting for a person (overdue first), rejected ones and those sync gave up on; act on many at once."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lead_engine.core.approvals import BulkAction
from lead_engine.core.leads import count_by_status, is_overdue, list_leads
from lead_engine.core.models import Lead
from lead_engine.ui_pages import context
from lead_engine.ui_pages.widgets import (
    SYNC_OFF,
    explorer_records,
    lead_title,
    local_time,
    reject_popover,
    status_label,
)

SHOWN = 200
QUEUES = {"needs_review": "Needs review", "rejected": "Rejected", "dead": "Couldn't sync"}


def reason_of(lead: Lead) -> str:
    """Why the lead is here: the sync's last error, else the parser's reasons."""
    return lead.last_error or "; ".join(lead.reasons) or "–"


def act_on(action: BulkAction, lead_ids: list[str], reason: str = "") -> None:
    """Apply the action to the chosen leads; the choice starts empty again."""
    context.run_bulk(action, lead_ids, reason)
    st.session_state.pop("review_chosen", None)


def show_queue(status: str) -> None:
    """The leads of one queue, and the bulk actions."""
    with context.reading() as session:
        leads, total = list_leads(session=session, status=status, order="review", limit=SHOWN)
    if not leads:
        st.success(
            {
                "needs_review": "Nothing needs review. New leads the rules cannot approve on their own land here.",
                "rejected": "Nothing rejected. Junk (auto-replies, bounces, spam) and leads people rejected land here.",
            }.get(status, "Every lead synced. Leads the Company Explorer would not take land here, with the reason.")
        )
        return
    context.remember_sequence([lead.id for lead in leads], "review")
    frame = pd.DataFrame(
        [
            {"Status": "Overdue" if is_overdue(lead) else status_label(lead.status),
             "Received": local_time(lead.received_at), "Lead": lead_title(lead), "Source": lead.source,
             "Reason": reason_of(lead), "Score": lead.score, "Grade": lead.grade}
            for lead in leads
        ]
    )  # fmt: skip
    st.dataframe(frame, hide_index=True, column_config={"Reason": st.column_config.TextColumn(width="large")})
    if total > len(leads):
        st.caption(f"Showing the first {len(leads)} of {total:,}; the next ones appear once these are handled.")
    titles = {lead.id: f"{lead_title(lead)} ({local_time(lead.received_at)})" for lead in leads}
    everything = st.checkbox(f"All {len(leads)} shown", key="review_all")
    chosen = list(titles) if everything else st.multiselect(
        "Leads to act on", list(titles), format_func=titles.__getitem__, key="review_chosen",
        placeholder="Choose leads…",
    )  # fmt: skip
    sync_on = context.current_settings().sync_enabled
    approve_col, reject_col, resync_col, open_col, _ = st.columns([1, 1, 1, 1, 2])
    if approve_col.button("Approve", icon=":material/thumb_up:", type="primary", disabled=not chosen, width="stretch"):
        act_on(BulkAction.APPROVE, chosen)
        st.rerun()
    if status == "rejected":
        if reject_col.button("Restore", icon=":material/undo:", disabled=not chosen, width="stretch"):
            act_on(BulkAction.RESTORE, chosen)
            st.rerun()
    elif chosen:
        with reject_col:
            reject_popover(
                "review_reject", len(chosen), lambda reason: act_on(BulkAction.REJECT, chosen, reason),
                in_explorer=explorer_records([lead for lead in leads if lead.id in set(chosen)]),
            )  # fmt: skip
    else:
        reject_col.button("Reject", icon=":material/block:", disabled=True, width="stretch")
    if resync_col.button(
        "Sync again", icon=":material/sync:", disabled=not chosen or not sync_on, width="stretch",
        help=None if sync_on else SYNC_OFF,
    ):  # fmt: skip
        act_on(BulkAction.RESYNC, chosen)
        st.rerun()
    if open_col.button("Open first", icon=":material/open_in_new:", disabled=not chosen, width="stretch"):
        st.switch_page(context.LEAD, query_params={"id": chosen[0]})


def show_review() -> None:
    """The queues with their counts and the chosen one's leads; looked at again every few seconds."""
    context.show_flashes()  # here: an action in this part of the page reruns only it
    with context.reading() as counting:
        counts = count_by_status(session=counting)
    queue = st.segmented_control(
        "Queue", list(QUEUES), format_func=lambda status: f"{QUEUES[status]} ({counts.get(status, 0):,})",
        default="needs_review", required=True, key="review_queue", label_visibility="collapsed",
    )  # fmt: skip
    show_queue(queue or "needs_review")


st.title("Review")
st.fragment(show_review, run_every=context.current_settings().ui_refresh_seconds)()
