"""Running imports: dry run and real run agree, each dedup mode, routing, hostile cells, resume, and undo."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from lead_engine.core.imports.lifecycle import claim_import, create_import, get_import, start_import
from lead_engine.core.imports.report import report_csv, report_rows
from lead_engine.core.imports.runner import run_import
from lead_engine.core.imports.undo import undo_import
from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.leads import correct_lead, get_lead, list_events, reparse_lead
from lead_engine.core.models import ImportRow, Job, Lead, LeadEvent, LeadImport, RawMessage
from lead_engine.core.settings import Settings
from lead_engine.core.statuses import ImportStatus
from tests.support.spreadsheets import HEADER, csv_bytes, lead_rows

BASIC = (
    "Firma;Vorname;Nachname;E-Mail;Telefon;Land\n"
    "Müller GmbH;Jörg;Müller;j.mueller@mueller.de;089 1234567;\n"  # 2: new
    "Northwind Ltd;James;Carter;james@northwind.co.uk;020 7946 0321;United Kingdom\n"  # 3: new, a British number
    "Müller GmbH;Jörg;Müller;J.Mueller@mueller.de;;\n"  # 4: a repeat of row 2 (e-mail in another case)
    "Kaputt AG;Kai;Kaputt;kai@;;\n"  # 5: invalid e-mail
    "Ohne Kontakt KG;Otto;Ohne;;;\n"  # 6: no way to reach anyone
    "Wegwerf;Wanda;Weg;wanda@mailinator.com;;\n"  # 7: a throw-away address
)


def import_file(
    engine: Engine, settings: Settings, data: bytes, *, dry_run: bool = False, mapping: dict[str, str] | None = None,
    **options: Any,
) -> LeadImport:  # fmt: skip
    """Upload, start and run an import the way the worker does; the import as it ended."""
    with Session(engine, expire_on_commit=False) as session:
        record = create_import(session=session, settings=settings, filename="leads.csv", data=data, actor="alice")
        start_import(session=session, settings=settings, import_id=record.id, dry_run=dry_run, mapping=mapping,
                     options=options)  # fmt: skip
    return run_queued(engine, settings, record.id)


def run_queued(engine: Engine, settings: Settings, import_id: str, worker: str = "worker-1") -> LeadImport:
    with Session(engine) as session:
        assert claim_import(session=session, worker=worker, lease_seconds=60) == import_id
    run_import(engine, settings, import_id, worker=worker)
    with Session(engine) as session:
        return get_import(session=session, import_id=import_id)


def outcomes(engine: Engine, import_id: str) -> list[tuple[int, str, str]]:
    with Session(engine) as session:
        rows, _ = report_rows(session=session, import_id=import_id, limit=1000)
    return [(row.row, row.outcome, row.reason) for row in rows]


def leads(engine: Engine) -> list[Lead]:
    with Session(engine) as session:
        return list(session.scalars(select(Lead).order_by(col(Lead.subject))))


def test_each_row_becomes_a_lead_a_repeat_or_a_rejection_with_its_reason(engine: Engine, settings: Settings) -> None:
    record = import_file(engine, settings, BASIC.encode())
    assert record.status == ImportStatus.DONE
    assert [(row, outcome) for row, outcome, _ in outcomes(engine, record.id)] == [
        (2, "new"), (3, "new"), (4, "skipped"), (5, "rejected"), (6, "rejected"), (7, "rejected"),
    ]  # fmt: skip
    reasons = {row: reason for row, _, reason in outcomes(engine, record.id)}
    assert reasons[4] == "duplicate of row 2 of this file"
    assert reasons[5] == "invalid e-mail address 'kai@'"
    assert reasons[6] == "no contact data: neither an e-mail address nor a phone number"
    assert reasons[7] == "throw-away address (mailinator.com)"
    assert record.counts == {"new": 2, "skipped": 1, "rejected": 3, "needs_review": 2}
    made = {lead.email: lead for lead in leads(engine)}
    assert set(made) == {"j.mueller@mueller.de", "james@northwind.co.uk"}
    mueller, carter = made["j.mueller@mueller.de"], made["james@northwind.co.uk"]
    assert (mueller.company, mueller.contact_name, mueller.phone) == ("Müller GmbH", "Jörg Müller", "+49891234567")
    # The row's country, not the default one, reads the number.
    assert (carter.phone, carter.country) == ("+442079460321", "GB")
    assert mueller.source == "import" and mueller.template == "import"
    assert mueller.fields["company"] == {"provenance": "import", "confidence": 1.0}
    assert mueller.score is not None and mueller.score_components
    with Session(engine) as session:
        events = list_events(session=session, lead_id=mueller.id)
    assert [(event.action, event.actor, event.detail["row"]) for event in events] == [("imported", "alice", 2)]
    assert events[0].detail["import_id"] == record.id


def test_a_dry_run_writes_no_lead_and_finds_what_the_import_then_does(engine: Engine, settings: Settings) -> None:
    import_file(engine, settings, csv_bytes(HEADER, lead_rows(3)))
    # The file's rows 2 and 4 are these leads again; its row 3 is the second one with a broken address.
    existing_ids = {lead.id for lead in leads(engine) if lead.email != lead_rows(3)[1][4]}
    rows = lead_rows(3) + lead_rows(600, start=10)
    rows[1][4] = "not-an-address"  # row 3: rejected
    rows.append(list(rows[5]))  # the last row: a repeat of row 7 of this file, in a later batch
    data = csv_bytes(HEADER, rows)
    with Session(engine) as session:
        before = session.scalar(select(func.count()).select_from(Lead))
    dry = import_file(engine, settings, data, dry_run=True, on_match="fill")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == before
        assert session.scalar(select(func.count()).select_from(RawMessage)) == before
    assert dry.status == ImportStatus.CHECKED
    said = outcomes(engine, dry.id)
    with Session(engine, expire_on_commit=False) as session:
        start_import(session=session, settings=settings, import_id=dry.id, dry_run=False)
    real = run_queued(engine, settings, dry.id)
    assert real.status == ImportStatus.DONE
    # Row by row the same outcome and the same words (the ready/review split across batches included).
    assert outcomes(engine, real.id) == said
    assert real.counts == dry.counts
    assert real.counts["new"] == 600 and real.counts["skipped"] == 3 and real.counts["rejected"] == 1
    assert {reason for _, outcome, reason in said if outcome == "skipped"} == {
        f"duplicate of lead {lead.id}; nothing new to add" for lead in leads(engine) if lead.id in existing_ids
    } | {"duplicate of row 7 of this file; nothing new to add"}


@pytest.mark.parametrize(
    ("dedup", "on_match", "outcome", "company", "phone"),
    [
        # By e-mail, skipping: the stored lead keeps everything.
        ("email", "skip", "skipped", "Alt GmbH", None),
        # By e-mail, filling: the empty phone is filled, the company stays.
        ("email", "fill", "merged", "Alt GmbH", "+49301234567"),
        # By e-mail, overwriting: both take the row's values.
        ("email", "overwrite", "merged", "Neu GmbH", "+49301234567"),
        # By company domain: the website's domain is the e-mail's.
        ("domain", "fill", "merged", "Alt GmbH", "+49301234567"),
        # By external id: the CRM's id matches.
        ("external_id", "overwrite", "merged", "Neu GmbH", "+49301234567"),
        # No duplicate check: a second lead.
        ("none", "overwrite", "new", "Alt GmbH", None),
    ],
)
def test_each_dedup_key_and_match_action(
    engine: Engine, settings: Settings, dedup: str, on_match: str, outcome: str, company: str, phone: str | None
) -> None:
    import_file(engine, settings, b"ID;Firma;E-Mail\nK-1;Alt GmbH;ina@alt.de\n", dedup="none")
    (old,) = leads(engine)
    data = b"ID;Firma;E-Mail;Telefon;Website\nK-1;Neu GmbH;INA@alt.de;030 1234567;https://www.alt.de/kontakt\n"
    second = import_file(engine, settings, data, dedup=dedup, on_match=on_match)
    (row,) = outcomes(engine, second.id)
    assert row[1] == outcome
    with Session(engine) as session:
        stored = get_lead(session=session, lead_id=old.id)
    assert (stored.company, stored.phone) == (company, phone)
    if outcome == "merged":
        assert row[2].startswith(f"merged into lead {old.id}: ")
        assert stored.fields["phone"]["provenance"] == "import" and stored.version == 2
        with Session(engine) as session:
            merged = [
                event for event in list_events(session=session, lead_id=old.id) if event.action == "import_merged"
            ]
        assert merged[0].detail["import_id"] == second.id


def test_overwrite_never_replaces_what_a_person_corrected(engine: Engine, settings: Settings) -> None:
    import_file(engine, settings, b"Firma;E-Mail\nAlt GmbH;ina@alt.de\n")
    (lead,) = leads(engine)
    with Session(engine) as session:
        correct_lead(session=session, settings=settings, lead_id=lead.id, version=lead.version,
                     changes={"company": "Alt Holding GmbH"}, actor="bob")  # fmt: skip
    record = import_file(engine, settings, b"Firma;E-Mail;Ort\nNeu GmbH;ina@alt.de;Kiel\n", on_match="overwrite")
    ((_, outcome, reason),) = outcomes(engine, record.id)
    assert outcome == "merged" and reason.endswith("(kept what a person set: company)")
    (stored,) = leads(engine)
    assert (stored.company, stored.city) == ("Alt Holding GmbH", "Kiel")


def test_automatic_approvals_keep_to_the_daily_limit_and_queue_syncs(engine: Engine, settings: Settings) -> None:
    settings = settings.model_copy(update={"auto_approve_daily_limit": 2, "company_explorer_url": "http://127.0.0.1:9"})
    hot = "Bitte dringend ein Angebot für 3 Regalanlagen, Budget 80.000 EUR, Start im Mai"
    rows = [[f"Firma {n} GmbH", f"Kim Lee{n}", f"kim@firma{n}.de", "030 1234567", f"www.firma{n}.de", hot]
            for n in range(4)]  # fmt: skip
    record = import_file(engine, settings, csv_bytes(["Firma", "Name", "E-Mail", "Telefon", "Website", "Notiz"], rows))
    assert record.counts.get("ready") == 2 and record.counts.get("needs_review") == 2
    by_status = {lead.status for lead in leads(engine)}
    assert by_status == {"ready", "needs_review"}
    waiting = [lead for lead in leads(engine) if lead.status == "needs_review"]
    assert all(lead.reasons == ["daily auto-approval limit of 2 reached"] for lead in waiting)
    with Session(engine) as session:
        syncs = session.scalars(select(Job).where(col(Job.kind) == "sync")).all()
    assert len(syncs) == 2


def test_hostile_cells_are_cleaned_and_sent_to_a_person(engine: Engine, settings: Settings) -> None:
    huge = "x" * 50_000
    data = csv_bytes(["Firma", "E-Mail", "Notiz"], [
        ["<script>alert(1)</script><b>Evil</b> GmbH", "a@evil.de", "[klick](http://evil.example) bitte"],
        ["Groß\u200d GmbH", "b@gross.de", huge],
        [huge, "c@huge.de", ""],
    ])  # fmt: skip
    import_file(engine, settings, data)
    made = {lead.email: lead for lead in leads(engine)}
    evil, gross, long_one = made["a@evil.de"], made["b@gross.de"], made["c@huge.de"]
    assert evil.company == "Evil GmbH" and "script" not in (evil.message or "") and evil.message == "klick bitte"
    assert evil.status == "needs_review" and "company held markup, which was removed" in evil.reasons
    assert evil.fields["company"]["confidence"] == 0.5
    assert gross.company == "Groß GmbH"  # no zero-width joiner left
    assert gross.message is not None and len(gross.message) <= 5000
    assert long_one.company is not None and len(long_one.company) == 512
    assert "company was longer than 512 characters and was cut" in long_one.reasons


def test_parse_again_reads_an_imported_row_again_and_a_mail_keeps_imported_fields(
    engine: Engine, settings: Settings
) -> None:
    import_file(engine, settings, b"Firma;E-Mail;Telefon\nRegal GmbH;rita@regal.de;030 1234567\n")
    (lead,) = leads(engine)
    with Session(engine) as session:
        reparse_lead(session=session, lead_id=lead.id, actor="bob")
    run_due_jobs(engine, settings)
    (again,) = leads(engine)
    assert (again.company, again.email, again.phone, again.template) == (lead.company, lead.email, lead.phone, "import")
    assert again.fields == lead.fields


def test_a_stopped_import_continues_where_it_stopped_without_repeating_a_row(
    engine: Engine, settings: Settings
) -> None:
    data = csv_bytes(HEADER, lead_rows(1_300))
    with Session(engine, expire_on_commit=False) as session:
        record = create_import(session=session, settings=settings, filename="big.csv", data=data, actor="alice")
        start_import(session=session, settings=settings, import_id=record.id, dry_run=False)
        assert claim_import(session=session, worker="first", lease_seconds=60) == record.id
    stop = threading.Event()
    assert not run_import(engine, settings, record.id, worker="first", progress=lambda _: stop.set(), stop=stop)
    with Session(engine) as session:
        halfway = get_import(session=session, import_id=record.id)
        assert (halfway.status, halfway.rows_done) == (ImportStatus.QUEUED, 500)
    finished = run_queued(engine, settings, record.id, worker="second")
    assert finished.status == ImportStatus.DONE and finished.counts["new"] == 1_300
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 1_300
        assert session.scalar(select(func.count(func.distinct(Lead.email)))) == 1_300
        assert session.scalar(select(func.count()).select_from(ImportRow)) == 1_300


def test_a_worker_that_lost_its_lease_writes_nothing_more(engine: Engine, settings: Settings) -> None:
    data = csv_bytes(HEADER, lead_rows(1_000))
    with Session(engine, expire_on_commit=False) as session:
        record = create_import(session=session, settings=settings, filename="big.csv", data=data, actor="alice")
        start_import(session=session, settings=settings, import_id=record.id, dry_run=False)
        assert claim_import(session=session, worker="slow", lease_seconds=0) == record.id
        # Its lease ran out: another worker takes the import over before the slow one writes anything.
        assert claim_import(session=session, worker="fast", lease_seconds=60) == record.id
    assert not run_import(engine, settings, record.id, worker="slow")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


def test_undo_removes_made_leads_restores_merges_and_keeps_what_people_changed(
    engine: Engine, settings: Settings
) -> None:
    import_file(engine, settings, b"Firma;E-Mail\nAlt GmbH;ina@alt.de\nBeta AG;bea@beta.de\n", dedup="none")
    alt, beta = leads(engine)
    data = (
        b"Firma;E-Mail;Telefon;Ort\n"
        b"Alt GmbH;ina@alt.de;030 1234567;Kiel\n"  # merges phone and city into Alt
        b"Beta AG;bea@beta.de;;Bonn\n"  # merges the city into Beta
        b"Gamma KG;gus@gamma.de;;\n"  # new
        b"Delta SE;dora@delta.de;;\n"  # new, then judged by a person
    )
    record = import_file(engine, settings, data, on_match="fill")
    with Session(engine, expire_on_commit=False) as session:
        beta_now = get_lead(session=session, lead_id=beta.id)
        correct_lead(session=session, settings=settings, lead_id=beta.id, version=beta_now.version,
                     changes={"city": "Bad Godesberg"}, actor="bob")  # fmt: skip
        delta = session.scalars(select(Lead).where(col(Lead.email) == "dora@delta.de")).one()
        correct_lead(session=session, settings=settings, lead_id=delta.id, version=delta.version,
                     changes={"contact_name": "Dora Delta"}, actor="bob")  # fmt: skip
        gamma = session.scalars(select(Lead).where(col(Lead.email) == "gus@gamma.de")).one()
    with Session(engine, expire_on_commit=False) as session:
        undone = undo_import(session=session, settings=settings, import_id=record.id, actor="carol")
    assert undone.status == ImportStatus.UNDONE
    assert (undone.undo["removed"], undone.undo["kept"], undone.undo["restored"]) == (1, 1, 1)
    assert undone.undo["kept_leads"] == [
        {"lead_id": delta.id, "row": 5, "why": "a person changed or judged it since the import"}
    ]
    assert undone.undo["not_restored_fields"] == [
        {"lead_id": beta.id, "row": 3, "field": "city", "why": "changed since the import; left as it is"}
    ]
    with Session(engine) as session:
        assert session.get(Lead, gamma.id) is None
        assert not session.scalars(select(LeadEvent).where(col(LeadEvent.lead_id) == gamma.id)).all()
        assert session.get(RawMessage, gamma.raw_message_id) is None
        restored = get_lead(session=session, lead_id=alt.id)
        assert (restored.phone, restored.city) == (None, None)
        assert "phone" not in restored.fields and "city" not in restored.fields
        assert get_lead(session=session, lead_id=beta.id).city == "Bad Godesberg"
        assert get_lead(session=session, lead_id=delta.id).contact_name == "Dora Delta"
        actions = [event.action for event in list_events(session=session, lead_id=alt.id)]
        assert actions[-1] == "import_undone"
        # The report still says what every row became; the file stays with the import.
        assert "Gamma KG" in report_csv(session=session, record=get_import(session=session, import_id=record.id))
    with Session(engine) as session, pytest.raises(Exception, match="only a finished import can be undone"):
        undo_import(session=session, settings=settings, import_id=record.id, actor="carol")
