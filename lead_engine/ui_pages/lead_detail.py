"""One lead: the original e-mail beside the parsed fields, corrections, actions and the event timeline."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from lead_engine.core.approvals import approve_lead, reject_lead, restore_lead
from lead_engine.core.errors import ConflictError, FieldErrors, LeadEngineError, NotFoundError
from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.leads import (
    correct_lead,
    get_lead,
    is_overdue,
    lead_in_work,
    list_events,
    reparse_lead,
    resync_lead,
)
from lead_engine.core.models import Lead, LeadEvent
from lead_engine.core.qualification.routing import can_sync
from lead_engine.core.qualification.scoring import lead_values
from lead_engine.ui_pages import context
from lead_engine.ui_pages.email_view import show_email
from lead_engine.ui_pages.timeline import what_happened, who
from lead_engine.ui_pages.widgets import (
    FIELD_LABELS,
    PROVENANCE_COLOR,
    SYNC_OFF,
    escape_markdown,
    lead_title,
    local_time,
    reject_popover,
    show_status,
)

FOLLOW_SECONDS = 1.0
# Where a value came from, in words.
SOURCE_WORDS = {"rule": "parser", "llm": "AI", "operator": "person", "import": "import"}


# Per lead: edits not saved yet, the reason per field they were refused, whether someone else saved meanwhile.
PENDING_KEY, ERRORS_KEY, CONFLICT_KEY = "pending_{}", "field_errors_{}", "conflict_{}"


def field_key_of(lead_id: str, version: int, name: str) -> str:
    """The widget key of a field; a new version of the lead gets fresh widgets with its values."""
    return f"field_{lead_id}_{version}_{name}"


def field_key(lead: Lead, name: str) -> str:
    return field_key_of(lead.id, lead.version, name)


def save_corrections(lead_id: str, version: int, original: dict[str, str]) -> None:
    """Send the fields the operator changed, checked against the version they saw.

    What cannot be saved stays in the form: a value that is not valid is shown with its reason beside its field,
    and edits made while someone else changed the lead are laid over the new version to be saved again.
    """
    typed = {name: st.session_state.get(field_key_of(lead_id, version, name), original[name]) for name in original}
    changes = {name: value for name, value in typed.items() if value != original[name]}
    st.session_state.pop(ERRORS_KEY.format(lead_id), None)
    st.session_state.pop(CONFLICT_KEY.format(lead_id), None)
    if not changes:
        st.session_state.pop(PENDING_KEY.format(lead_id), None)
        context.flash("success", "Nothing changed.")
        return
    try:
        with context.writing() as session:
            correct_lead(
                session=session, settings=context.current_settings(), lead_id=lead_id, version=version,
                changes=changes, actor=context.current_actor(),
            )  # fmt: skip
    except FieldErrors as exc:
        st.session_state[PENDING_KEY.format(lead_id)] = changes
        st.session_state[ERRORS_KEY.format(lead_id)] = exc.errors
        return
    except ConflictError:
        st.session_state[PENDING_KEY.format(lead_id)] = changes
        st.session_state[CONFLICT_KEY.format(lead_id)] = True
        return
    except LeadEngineError as exc:
        context.flash("error", str(exc))
        return
    st.session_state.pop(PENDING_KEY.format(lead_id), None)
    context.flash("success", f"Saved {', '.join(FIELD_LABELS[name] for name in changes)}.")


def discard_edits(lead_id: str) -> None:
    """Forget the edits that could not be saved; the form shows the lead as stored."""
    for key in (PENDING_KEY, ERRORS_KEY, CONFLICT_KEY):
        st.session_state.pop(key.format(lead_id), None)


def approve(lead_id: str, version: int) -> None:
    """Approve the lead as seen."""
    settings, actor = context.current_settings(), context.current_actor()
    done = "Approved; sync queued." if settings.sync_enabled else "Approved."
    context.run_use_case(
        done,
        lambda session: approve_lead(session=session, settings=settings, lead_id=lead_id, version=version, actor=actor),
    )


def reject(lead_id: str, version: int, reason: str) -> None:
    """Reject the lead as seen, with the reason typed."""
    context.run_use_case(
        "Rejected.",
        lambda session: reject_lead(
            session=session, lead_id=lead_id, version=version, actor=context.current_actor(), reason=reason
        ),
    )


def restore(lead_id: str, version: int) -> None:
    """Bring the rejected lead back into review."""
    settings, actor = context.current_settings(), context.current_actor()
    context.run_use_case(
        "Restored: the lead is back in review.",
        lambda session: restore_lead(session=session, settings=settings, lead_id=lead_id, version=version, actor=actor),
    )


def resync(lead_id: str) -> None:
    """Queue the lead's sync again."""
    settings, actor = context.current_settings(), context.current_actor()
    context.run_use_case(
        "Queued to sync again.",
        lambda session: resync_lead(session=session, settings=settings, lead_id=lead_id, actor=actor),
    )


def reparse(lead_id: str) -> None:
    """Queue the stored e-mail to be parsed again."""
    actor = context.current_actor()
    context.run_use_case(
        "Queued to parse again.", lambda session: reparse_lead(session=session, lead_id=lead_id, actor=actor)
    )


def show_fields(lead: Lead) -> None:
    """The parsed fields with their provenance, editable; saved against the version shown."""
    st.subheader("Lead fields")
    original = {name: getattr(lead, name) or "" for name in CANONICAL_FIELDS}
    pending: dict[str, str] = st.session_state.get(PENDING_KEY.format(lead.id), {})
    errors: dict[str, str] = st.session_state.get(ERRORS_KEY.format(lead.id), {})
    with st.form(f"fields_{lead.id}_{lead.version}", border=True):
        for name in CANONICAL_FIELDS:
            meta = lead.fields.get(name, {})
            value, origin = st.columns([3, 1], vertical_alignment="bottom")
            with value:
                shown = pending.get(name, original[name])
                if name == "message":
                    st.text_area(FIELD_LABELS[name], shown, key=field_key(lead, name), height=120)
                else:
                    st.text_input(FIELD_LABELS[name], shown, key=field_key(lead, name))
            with origin:
                if name in pending:
                    st.badge("not saved", color="red" if name in errors else "orange")
                elif meta:
                    provenance = str(meta.get("provenance", "?"))
                    confidence = float(meta.get("confidence") or 0)
                    st.badge(f"{SOURCE_WORDS.get(provenance, provenance)} {confidence:.0%}",
                             color=PROVENANCE_COLOR.get(provenance, "gray"))  # type: ignore[arg-type]  # fmt: skip
                else:
                    st.badge("empty", color="gray")
            if name in errors:
                st.error(escape_markdown(f"{FIELD_LABELS[name]}: {errors[name]}"), icon=":material/error:")
        if errors:
            fields = ", ".join(FIELD_LABELS[name] for name in errors)
            st.error(f"Nothing was saved: {escape_markdown(fields)} {'needs' if len(errors) == 1 else 'need'} a fix.")
        elif st.session_state.get(CONFLICT_KEY.format(lead.id)):
            st.warning(
                "Someone else changed this lead while you were editing. The form shows their version with your "
                "edits on top (marked *not saved*): check them and save again."
            )
        save, discard = st.columns([1, 1])
        save.form_submit_button(
            "Save corrections", type="primary", icon=":material/save:",
            on_click=save_corrections, args=(lead.id, lead.version, original),
        )  # fmt: skip
        if pending:
            discard.form_submit_button("Discard my edits", on_click=discard_edits, args=(lead.id,))


def show_actions(lead: Lead) -> None:
    """Approve, reject, resync and reparse, each acting on the version shown."""
    settings = context.current_settings()
    approve_col, reject_col, resync_col, reparse_col, _ = st.columns([1, 1, 1, 1, 2])
    syncable = can_sync(lead_values(lead), excluded=settings.own_domains)
    approve_col.button(
        "Approve", icon=":material/thumb_up:", type="primary", width="stretch",
        disabled=lead.status in ("syncing", "synced") or not syncable, on_click=approve, args=(lead.id, lead.version),
        help="Alt+A" if syncable else "Add the company or its website first: the Company Explorer needs one of them.",
        shortcut="Alt+A",
    )  # fmt: skip
    if lead.status == "rejected":
        reject_col.button(
            "Restore", icon=":material/undo:", width="stretch", on_click=restore, args=(lead.id, lead.version),
            help="Back into review; a reparse will not reject it again.",
        )  # fmt: skip
    else:
        with reject_col:
            reject_popover(
                f"reject_{lead.id}", 1, lambda reason: reject(lead.id, lead.version, reason),
                in_explorer=[lead.company_explorer_id] if lead.company_explorer_id else [], shortcut="Alt+X",
            )  # fmt: skip
    resync_col.button(
        "Sync again", icon=":material/sync:", width="stretch", disabled=not settings.sync_enabled,
        help=None if settings.sync_enabled else SYNC_OFF, on_click=resync, args=(lead.id,),
    )  # fmt: skip
    reparse_col.button(
        "Parse again", icon=":material/refresh:", width="stretch", on_click=reparse, args=(lead.id,),
        help="Read the stored e-mail again with the current rules; your corrections are kept.",
    )  # fmt: skip


def show_timeline(events: list[LeadEvent]) -> None:
    """The lead's event trail, newest first, as a plain-text table of sentences."""
    st.subheader("Timeline")
    rows = [
        {"When": local_time(event.at), "Who": who(event), "What": what_happened(event)} for event in reversed(events)
    ]
    st.dataframe(
        pd.DataFrame(rows, columns=["When", "Who", "What"]), hide_index=True, width="stretch",
        column_config={"What": st.column_config.TextColumn(width="large")},
    )  # fmt: skip


def go_to(lead_id: str) -> None:
    st.query_params["id"] = lead_id


def show_neighbours(lead_id: str, previous: Any, position: Any, following: Any) -> None:
    """Previous and next lead of the list the operator came from (Inbox page or Review queue), as it was shown."""
    _, sequence = context.remembered_sequence()
    if lead_id not in sequence:
        return
    at = sequence.index(lead_id)
    previous.button(
        "Previous", icon=":material/chevron_left:", width="stretch", disabled=at == 0, shortcut="Alt+P",
        on_click=go_to, args=(sequence[max(at - 1, 0)],), help="Alt+P",
    )  # fmt: skip
    position.caption(f"Lead {at + 1} of {len(sequence)} in the list")
    following.button(
        "Next", icon=":material/chevron_right:", width="stretch", disabled=at == len(sequence) - 1,
        shortcut="Alt+N", on_click=go_to, args=(sequence[min(at + 1, len(sequence) - 1)],), help="Alt+N",
    )  # fmt: skip


def explorer_record(record_id: str) -> str:
    """The lead's Company Explorer record: a link where the record URL is configured, else its id."""
    template = context.current_settings().company_explorer_record_url
    shown = f"Company Explorer record {escape_markdown(record_id)}"
    if not template or "{id}" not in template:
        return shown
    url = template.replace("{id}", quote(record_id, safe=""))
    if not url.startswith(("https://", "http://")):
        return shown
    return f"[{shown}]({url.replace(')', '%29').replace(' ', '%20')})"


def show_header(lead: Lead) -> None:
    """Company and contact as the title, the status and the key facts."""
    back, previous, position, following = st.columns([3, 1, 2, 1], vertical_alignment="center")
    if back.button("Back to the list", icon=":material/arrow_back:", type="tertiary"):
        st.switch_page(context.REVIEW if context.remembered_sequence()[0] == "review" else context.INBOX)
    show_neighbours(lead.id, previous, position, following)
    st.title(escape_markdown(lead.company or lead_title(lead)))
    status, facts = st.columns([1, 6], vertical_alignment="center")
    with status:
        show_status(lead.status)
    score = "–" if lead.score is None else f"{lead.score}" + (f" ({lead.grade})" if lead.grade else "")
    facts.caption(
        f"From {escape_markdown(lead.source)} · received {local_time(lead.received_at)} · score {score}"
        + (f" · {explorer_record(lead.company_explorer_id)}" if lead.company_explorer_id else "")
    )
    if lead.last_error:
        st.error(f"Last error: {escape_markdown(lead.last_error)}", icon=":material/error:")
    if is_overdue(lead):
        st.error("Overdue: this lead has waited for review longer than it should.", icon=":material/schedule:")
    if lead.reasons:
        heading = {"needs_review": "Why it needs a look", "rejected": "Why it was rejected"}.get(lead.status, "Verdict")
        reasons = escape_markdown("; ".join(lead.reasons))
        if lead.status in ("needs_review", "rejected"):
            st.warning(f"{heading}: {reasons}", icon=":material/info:")
        else:
            st.caption(f"{heading}: {reasons}")


def show_score(lead: Lead) -> None:
    """How the score is made up: one row per rule that applied, summing to the score."""
    if not lead.score_components:
        return
    with st.expander(f"Score {lead.score} ({lead.grade or '–'}): how it is made up"):
        points = [int(item.get("points", 0)) for item in lead.score_components]
        rows = [
            {"Part": str(item.get("component", "")).capitalize(), "Points": value, "Why": str(item.get("reason", ""))}
            for item, value in zip(lead.score_components, points, strict=True)
        ]
        rows.append({"Part": "Total", "Points": sum(points), "Why": ""})
        # Tall enough for every row: the total must be in sight, not behind a scroll bar.
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=35 * (len(rows) + 1) + 3)


def choose_lead() -> None:
    """No lead in the address: let the operator type or paste an id."""
    st.title("Lead")
    st.info("Open a lead from the Inbox or from Review, or paste its id here.")
    lead_id = st.text_input("Lead id")
    if lead_id.strip():
        st.query_params["id"] = lead_id.strip()
        st.rerun()


def follow_lead(lead_id: str, version: int) -> None:
    """While a job of the lead runs or is due, look again every second; show the page anew once the lead changed."""
    with context.reading() as session:
        current = get_lead(session=session, lead_id=lead_id).version
    if current != version:
        st.rerun()
    st.caption("Working on this lead now: this page updates by itself.", help=None)


def show_lead(lead_id: str) -> None:
    """The whole page for one lead."""
    try:
        with context.reading() as session:
            lead = get_lead(session=session, lead_id=lead_id)
            events = list_events(session=session, lead_id=lead_id)
            in_work = lead_in_work(session=session, lead_id=lead_id)
    except NotFoundError:
        st.error(f"There is no lead with id {escape_markdown(lead_id)}.")
        if st.button("Back to inbox"):
            st.switch_page(context.INBOX)
        return
    show_header(lead)
    if in_work:
        st.fragment(follow_lead, run_every=FOLLOW_SECONDS)(lead.id, lead.version)
    show_actions(lead)
    show_score(lead)
    email_col, fields_col = st.columns(2, gap="large")
    with email_col:
        show_email(lead)
    with fields_col:
        show_fields(lead)
    show_timeline(events)


context.show_flashes()
selected = st.query_params.get("id")
if selected:
    show_lead(selected)
else:
    choose_lead()
