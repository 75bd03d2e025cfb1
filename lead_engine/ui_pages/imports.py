"""Import: upload a spreadsheet, map its columns, check it dry, import it (in the worker), read the report, undo."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lead_engine.core.errors import LeadEngineError
from lead_engine.core.imports.dedup import DedupKey, OnMatch, Outcome
from lead_engine.core.imports.lifecycle import create_import, get_import, list_imports, start_import
from lead_engine.core.imports.mapping import TARGET_LABELS, TARGETS
from lead_engine.core.imports.report import report_csv, report_rows
from lead_engine.core.imports.undo import undo_import
from lead_engine.core.models import LeadImport
from lead_engine.core.statuses import IMPORT_BUSY, ImportStatus
from lead_engine.ui_pages import context
from lead_engine.ui_pages.widgets import escape_markdown, local_time

LEFT_OUT = "(leave out)"
LABEL_FIELDS = {TARGET_LABELS[name]: name for name in TARGETS}
DEDUP_WORDS = {
    DedupKey.EMAIL: "E-mail address",
    DedupKey.DOMAIN: "Company domain (website or e-mail)",
    DedupKey.EXTERNAL_ID: "External ID",
    DedupKey.NONE: "No duplicate check",
}
MATCH_WORDS = {
    OnMatch.SKIP: "Skip the row",
    OnMatch.FILL: "Fill the lead's empty fields",
    OnMatch.OVERWRITE: "Overwrite the lead's values (not what a person set)",
}
OUTCOME_WORDS = {"new": "New leads", "merged": "Merged", "skipped": "Skipped", "rejected": "Rejected"}
ROW_WORDS = {"new": "New lead", "merged": "Merged", "skipped": "Skipped", "rejected": "Rejected"}
STATUS_WORDS = {
    ImportStatus.UPLOADED: "Uploaded: check the mapping, then check or import",
    ImportStatus.QUEUED: "Waiting for the worker",
    ImportStatus.RUNNING: "Running",
    ImportStatus.CHECKED: "Checked: nothing was written yet",
    ImportStatus.DONE: "Imported",
    ImportStatus.FAILED: "Failed",
    ImportStatus.UNDONE: "Undone",
}
SHOWN = 200


def open_import(import_id: str) -> None:
    """Show this import (the address keeps it, so a reload comes back to it)."""
    st.query_params["id"] = import_id


def upload_file() -> None:
    """The upload box; a new file becomes an import with a suggested mapping."""
    settings = context.current_settings()
    limit = f"{settings.import_max_mb:g} MB"
    uploaded = st.file_uploader(
        "Spreadsheet to import", type=["csv", "txt", "tsv", "xlsx", "xls", "ods"], key="import_upload",
        help=f"CSV (any delimiter; UTF-8 or Windows encodings), Excel or OpenDocument, up to {limit}",
    )  # fmt: skip
    if uploaded is None or st.session_state.get("import_uploaded") == uploaded.file_id:
        return
    st.session_state["import_uploaded"] = uploaded.file_id
    try:
        with context.writing() as session:
            record = create_import(
                session=session, settings=settings, filename=uploaded.name, data=uploaded.getvalue(),
                actor=context.current_actor(),
            )  # fmt: skip
            open_import(record.id)
    except LeadEngineError as exc:
        st.error(escape_markdown(f"{uploaded.name}: {exc}"), icon=":material/error:")


def mapping_editor(record: LeadImport) -> dict[str, str]:
    """The columns with examples and the field each goes to, editable; returns the chosen mapping."""
    frame = pd.DataFrame(
        [
            {"Column": name, "Examples": " · ".join(record.samples.get(name, [])),
             "Lead field": TARGET_LABELS.get(record.mapping.get(name, ""), LEFT_OUT)}
            for name in record.header
        ]
    )  # fmt: skip
    field = st.column_config.SelectboxColumn(options=[LEFT_OUT, *LABEL_FIELDS], required=True)
    edited = st.data_editor(
        frame, hide_index=True, width="stretch", key=f"mapping_{record.id}", disabled=["Column", "Examples"],
        column_config={"Lead field": field}, height=min(36 + 35 * len(frame), 900),
    )  # fmt: skip
    return {row["Column"]: LABEL_FIELDS.get(row["Lead field"], "") for row in edited.to_dict("records")}


def options_form(record: LeadImport) -> dict[str, str]:
    """What counts as a repeat, what a repeat does, and the country of phone numbers without one."""
    options = record.options
    left, middle, right = st.columns([2, 3, 1])
    dedup = left.selectbox(
        "Duplicates are found by", list(DEDUP_WORDS), format_func=DEDUP_WORDS.__getitem__, key=f"dedup_{record.id}",
        index=list(DEDUP_WORDS).index(DedupKey(options.get("dedup", "email"))),
    )  # fmt: skip
    on_match = middle.radio(
        "A row that matches a lead", list(MATCH_WORDS), format_func=MATCH_WORDS.__getitem__, key=f"match_{record.id}",
        index=list(MATCH_WORDS).index(OnMatch(options.get("on_match", "skip"))),
    )  # fmt: skip
    country = right.text_input(
        "Phone country", value=options.get("country", "DE"), max_chars=2, key=f"country_{record.id}",
        help="For numbers written without a country code, unless the row names its country.",
    )  # fmt: skip
    return {"dedup": str(dedup), "on_match": str(on_match), "country": country}


def start(record: LeadImport, *, dry_run: bool, mapping: dict[str, str] | None, options: dict[str, str]) -> None:
    """Queue the pass for the worker."""
    settings = context.current_settings()
    done = "Checking the rows; nothing is written." if dry_run else "Importing the rows."
    context.run_use_case(done, lambda session: start_import(
        session=session, settings=settings, import_id=record.id, dry_run=dry_run, mapping=mapping, options=options,
    ))  # fmt: skip
    st.rerun()


def show_progress(import_id: str) -> None:
    """The pass's progress bar, refreshed every second; the page shows the result once it is finished."""
    with context.reading() as session:
        record = get_import(session=session, import_id=import_id)
    if record.status not in IMPORT_BUSY:
        st.rerun()
    verb = "Checking" if record.dry_run else "Importing"
    done, total = record.rows_done, max(record.rows_total, 1)
    waiting = " (waiting for the worker to pick it up)" if record.status == ImportStatus.QUEUED else ""
    st.progress(done / total, text=f"{verb} row {done:,} of {record.rows_total:,}{waiting}…")


def show_counts(record: LeadImport) -> None:
    """How many rows became what."""
    counts = record.counts
    columns = st.columns(6)
    for column, (key, label) in zip(
        columns,
        [*OUTCOME_WORDS.items(), ("ready", "Approved automatically"), ("needs_review", "Needs review")],
        strict=True,
    ):
        column.metric(label, f"{counts.get(key, 0):,}")


def show_report(record: LeadImport) -> None:
    """The rows' outcomes (one kind or all) and the whole report as a download."""
    outcome = st.segmented_control(
        "Show", ["all", *OUTCOME_WORDS], format_func=lambda key: "All rows" if key == "all" else OUTCOME_WORDS[key],
        default="all", key=f"outcome_{record.id}",
    )  # fmt: skip
    with context.reading() as session:
        chosen = None if outcome in (None, "all") else Outcome(outcome)
        rows, total = report_rows(session=session, import_id=record.id, outcome=chosen, limit=SHOWN)
        report = report_csv(session=session, record=record)
    frame = pd.DataFrame(
        [{"Row": row.row, "Outcome": ROW_WORDS[row.outcome], "What happened": row.reason,
          "Lead": f"/lead?id={row.lead_id}" if row.lead_id else None} for row in rows]
    )  # fmt: skip
    if total:
        lead = st.column_config.LinkColumn("Lead", display_text=r"/lead\?id=(.*)", help="Opens the lead")
        st.dataframe(frame, hide_index=True, width="stretch", column_config={"Lead": lead})
    if total > SHOWN:
        st.caption(f"The first {SHOWN} of {total:,} rows; the report has them all.")
    st.download_button(
        "Download the report (CSV)", report, file_name=f"report-{record.filename}.csv", mime="text/csv",
        icon=":material/download:", key=f"report_{record.id}",
    )  # fmt: skip


def show_undo(record: LeadImport) -> None:
    """Undo, behind a confirmation; afterwards what it did and what it left."""
    if record.status == ImportStatus.UNDONE:
        undo = record.undo
        st.info(
            f"Undone by {undo.get('by', '?')}: {undo.get('removed', 0):,} lead(s) removed, "
            f"{undo.get('restored', 0):,} merged lead(s) restored.",
            icon=":material/undo:",
        )
        kept = pd.DataFrame(undo.get("kept_leads", []), columns=["row", "lead_id", "why"])
        fields = pd.DataFrame(undo.get("not_restored_fields", []), columns=["row", "lead_id", "field", "why"])
        if not kept.empty:
            st.caption(f"{undo['kept']:,} lead(s) it made were kept:")
            st.dataframe(kept, hide_index=True, width="stretch")
        if not fields.empty:
            st.caption(f"{undo['not_restored']:,} merged field(s) were changed since and left as they are:")
            st.dataframe(fields, hide_index=True, width="stretch")
        return
    with st.popover("Undo this import", icon=":material/undo:"):
        st.write("Removes the leads this import made and restores the fields it merged. Leads or fields a person "
                 "changed since stay as they are, and are listed.")  # fmt: skip
        if st.button("Yes, undo it", type="primary", key=f"undo_{record.id}"):
            settings, actor = context.current_settings(), context.current_actor()
            context.run_use_case("Import undone.", lambda session: undo_import(
                session=session, settings=settings, import_id=record.id, actor=actor,
            ))  # fmt: skip
            st.rerun()


def show_import(import_id: str) -> None:
    """One import: its mapping and options before it runs, its progress while it runs, its report after."""
    with context.reading() as session:
        record = get_import(session=session, import_id=import_id)
    st.subheader(escape_markdown(record.filename))
    st.caption(
        f"{record.rows_total:,} rows · {record.encoding} · uploaded {local_time(record.created_at)} by "
        f"{escape_markdown(record.created_by)} · {STATUS_WORDS[ImportStatus(record.status)]}"
    )
    if record.status == ImportStatus.FAILED:
        st.error(
            escape_markdown(f"The import stopped after {record.rows_done:,} rows: {record.error}"),
            icon=":material/error:",
        )
    if record.status in IMPORT_BUSY:
        st.fragment(show_progress, run_every=1.0)(record.id)
        return
    if record.status in (ImportStatus.CHECKED, ImportStatus.DONE, ImportStatus.UNDONE, ImportStatus.FAILED):
        show_counts(record)
    editable = record.status in (ImportStatus.UPLOADED, ImportStatus.CHECKED) or (
        record.status == ImportStatus.FAILED and (record.dry_run or not record.rows_done)
    )
    if editable:
        st.markdown("**Columns**")
        mapping = mapping_editor(record)
        options = options_form(record)
        check, run = st.columns(2)
        if check.button("Check (dry run)", icon=":material/fact_check:", width="stretch"):
            start(record, dry_run=True, mapping=mapping, options=options)
        if run.button(f"Import {record.rows_total:,} rows", type="primary", icon=":material/upload:", width="stretch"):
            start(record, dry_run=False, mapping=mapping, options=options)
    elif record.status == ImportStatus.FAILED and st.button("Continue the import", type="primary"):
        start(record, dry_run=False, mapping=None, options={})
    if record.status in (ImportStatus.CHECKED, ImportStatus.DONE, ImportStatus.UNDONE, ImportStatus.FAILED):
        st.markdown("**Rows**" + (" (what the dry run found)" if record.dry_run else ""))
        show_report(record)
    if record.status in (ImportStatus.DONE, ImportStatus.UNDONE):
        show_undo(record)


def show_recent() -> None:
    """The latest imports, each a button that opens it."""
    with context.reading() as session:
        records = list_imports(session=session, limit=10)
    if not records:
        return
    st.markdown("**Recent imports**")
    for record in records:
        status = STATUS_WORDS[ImportStatus(record.status)].split(":")[0]
        label = f"{escape_markdown(record.filename)} · {record.rows_total:,} rows · {status}"
        if st.button(label, key=f"open_{record.id}", type="tertiary", icon=":material/table_view:"):
            open_import(record.id)
            st.rerun()


st.title("Import")
context.show_flashes()
upload_file()
selected = st.query_params.get("id")
if selected:
    try:
        show_import(selected)
    except LeadEngineError as exc:
        st.error(str(exc))
show_recent()
