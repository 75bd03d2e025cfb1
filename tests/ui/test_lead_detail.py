"""The lead page: the e-mail as text, fields with provenance, corrections with a version check, actions."""

from __future__ import annotations

import html
import re
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from lead_engine.core.imports.lifecycle import claim_import, create_import, start_import
from lead_engine.core.imports.runner import run_import
from lead_engine.core.inbound import read_inbound
from lead_engine.core.leads import correct_lead, get_lead, get_raw_message, list_events
from lead_engine.core.mime import as_eml
from lead_engine.core.models import Job, Lead
from lead_engine.core.settings import get_settings
from tests.ui.conftest import XSS, LeadFactory, click, field, open_lead


def read(engine: Engine, lead_id: str) -> tuple[str | None, str, dict, list[tuple[str, str]]]:
    """The lead's company, status, field provenance and (action, actor) trail, fresh from the database."""
    with Session(engine) as session:
        lead = get_lead(session=session, lead_id=lead_id)
        events = [(event.action, event.actor) for event in list_events(session=session, lead_id=lead_id)]
        return lead.company, lead.status, dict(lead.fields), events


def email_view(app: AppTest) -> str:
    """The HTML of the e-mail's Text tab."""
    return next(element.proto.body for element in app.get("html") if "lead-email-text" in element.proto.body)


def shown_text(app: AppTest) -> str:
    """The e-mail's Text tab as a person reads it: the markup taken away, the entities read."""
    return html.unescape(re.sub(r"<[^>]+>", "", email_view(app).split("</p>", 1)[1]))


def test_lead_page_shows_email_as_text_and_fields_with_provenance(signed_in: AppTest, make_lead: LeadFactory) -> None:
    lead_id = make_lead(
        company="Muster GmbH",
        text="Firma: Muster GmbH\nAnsprechpartner: Max Muster",
        html="<p onclick='x()'>Firma: <b>Muster GmbH</b></p><script>alert(1)</script>",
    )
    open_lead(signed_in, lead_id)
    assert not signed_in.exception
    assert signed_in.title[0].value == "Muster GmbH"
    assert "Firma: Muster GmbH\nAnsprechpartner: Max Muster" in shown_text(signed_in)
    codes = [code.value for code in signed_in.code]
    assert "<p onclick='x()'>Firma: <b>Muster GmbH</b></p><script>alert(1)</script>" in codes
    assert field(signed_in, "company").value == "Muster GmbH"
    badges = [element.value for element in signed_in.markdown]
    assert ":blue-badge[parser 90%]" in badges and ":violet-badge[AI 70%]" in badges
    timeline = signed_in.dataframe[-1].value
    assert list(timeline["What"]) == ["Received from tradingtwins."]


def test_each_field_is_highlighted_where_the_parser_found_it_and_the_mail_stays_inert(
    signed_in: AppTest, make_lead: LeadFactory
) -> None:
    text = (
        "Firma: <b>Kälte & Söhne</b> GmbH\nVorname: Jana\nNachname: Berg\nTel.: 0171 / 234 56 78\n"
        "Ort: 01067 Dresden\n<script>alert(1)</script> [klick](http://evil.example) :red[rot]"
    )
    lead_id = make_lead(
        company="Kälte & Söhne GmbH", contact_name="Jana Berg", phone="+491712345678", city="Dresden",
        postal_code="01067", country="AT", text=text,
    )  # fmt: skip
    open_lead(signed_in, lead_id)
    view = email_view(signed_in)
    marks = re.findall(r'<mark data-field="(\w+)"[^>]*>([^<]*)</mark>', view)
    assert marks == [
        ("contact_name", "Jana"), ("contact_name", "Berg"), ("phone", "0171 / 234 56 78"),
        ("postal_code", "01067"), ("city", "Dresden"),
    ]  # fmt: skip
    # The company stands in the text only with markup inside it, so it is named as not found, not guessed.
    assert "Not found as written in the text: Company, Country (ISO)." in view
    assert "<script>" not in view and "<b>" not in view and "&lt;script&gt;alert(1)&lt;/script&gt;" in view
    assert shown_text(signed_in).endswith("<script>alert(1)</script> [klick](http://evil.example) :red[rot]")


def test_markup_in_lead_data_is_shown_as_text(signed_in: AppTest, make_lead: LeadFactory) -> None:
    lead_id = make_lead(company=XSS, city="[click](http://evil.example)")
    open_lead(signed_in, lead_id)
    # The title escapes every Markdown character, so it renders the characters themselves.
    assert signed_in.title[0].value == r"\<img src=x onerror=alert\(1\)\>"
    assert field(signed_in, "company").value == XSS
    assert field(signed_in, "city").value == "[click](http://evil.example)"


def test_edit_and_save_records_the_operator(signed_in: AppTest, make_lead: LeadFactory, engine: Engine) -> None:
    lead_id = make_lead(company="Mustr GmbH")
    open_lead(signed_in, lead_id)
    field(signed_in, "company").set_value("Muster GmbH")
    click(signed_in, "Save corrections")
    assert not signed_in.error
    assert [toast.value for toast in signed_in.toast] == ["Saved Company\\."]
    company, _, fields, events = read(engine, lead_id)
    assert company == "Muster GmbH"
    assert fields["company"] == {"provenance": "operator", "confidence": 1.0}
    assert events[-1] == ("corrected", "operator")
    # The page shows the saved value and the new provenance.
    assert field(signed_in, "company").value == "Muster GmbH"
    assert ":green-badge[person 100%]" in [element.value for element in signed_in.markdown]


def test_save_after_someone_else_changed_the_lead_shows_a_conflict(
    signed_in: AppTest, make_lead: LeadFactory, engine: Engine
) -> None:
    lead_id = make_lead(company="Mustr GmbH")
    open_lead(signed_in, lead_id)
    with Session(engine) as session:
        version = get_lead(session=session, lead_id=lead_id).version
        correct_lead(
            session=session,
            settings=get_settings(),
            lead_id=lead_id,
            version=version,
            changes={"city": "Köln"},
            actor="colleague",
        )
    field(signed_in, "company").set_value("Muster GmbH")
    click(signed_in, "Save corrections")
    assert "Someone else changed this lead while you were editing" in signed_in.warning[-1].value
    company, _, _, events = read(engine, lead_id)
    assert company == "Mustr GmbH"
    assert events[-1] == ("corrected", "colleague")
    # The form now shows the colleague's change with the operator's edit on top, ready to save again.
    assert field(signed_in, "city").value == "Köln"
    assert field(signed_in, "company").value == "Muster GmbH"


@pytest.fixture
def sync_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Company Explorer is configured (the worker would sync; the UI only queues)."""
    monkeypatch.setenv("LEAD_ENGINE_COMPANY_EXPLORER_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()


def open_jobs(engine: Engine, lead_id: str, kind: str) -> int:
    with Session(engine) as session:
        query = select(Job).where(Job.lead_id == lead_id, Job.kind == kind, Job.status == "queued")
        return len(session.scalars(query).all())


def test_resync_queues_a_sync(sync_on: None, signed_in: AppTest, make_lead: LeadFactory, engine: Engine) -> None:
    lead_id = make_lead(status="dead", last_error="gave up after 8 attempts: HTTP 503")
    open_lead(signed_in, lead_id)
    assert "HTTP 503" in signed_in.error[0].value
    click(signed_in, "Sync again")
    _, status, _, events = read(engine, lead_id)
    assert status == "ready" and events[-1] == ("resync_requested", "operator")
    assert open_jobs(engine, lead_id, "sync") == 1
    assert [toast.value for toast in signed_in.toast] == ["Queued to sync again\\."]


def test_resync_button_is_off_without_a_company_explorer(signed_in: AppTest, make_lead: LeadFactory) -> None:
    open_lead(signed_in, make_lead(status="dead"))
    assert next(button for button in signed_in.button if button.label == "Sync again").disabled


def test_approve_marks_ready_and_queues_sync(
    sync_on: None, signed_in: AppTest, make_lead: LeadFactory, engine: Engine
) -> None:
    lead_id = make_lead(status="needs_review")
    open_lead(signed_in, lead_id)
    click(signed_in, "Approve")
    _, status, _, events = read(engine, lead_id)
    assert status == "ready" and events[-1] == ("approved", "operator")
    assert open_jobs(engine, lead_id, "sync") == 1


def test_reject_with_reason(signed_in: AppTest, make_lead: LeadFactory, engine: Engine) -> None:
    lead_id = make_lead(status="needs_review")
    open_lead(signed_in, lead_id)
    signed_in.text_input(key=f"reject_{lead_id}_reason").set_value("job application")
    click(signed_in, "Reject lead")
    _, status, _, events = read(engine, lead_id)
    assert status == "rejected" and events[-1] == ("rejected", "operator")
    with Session(engine) as session:
        assert list_events(session=session, lead_id=lead_id)[-1].detail == {"reason": "job application"}


def test_reparse_queues_the_email_again(signed_in: AppTest, make_lead: LeadFactory, engine: Engine) -> None:
    lead_id = make_lead(status="needs_review")
    open_lead(signed_in, lead_id)
    click(signed_in, "Parse again")
    assert read(engine, lead_id)[3][-1] == ("reparse_requested", "operator")
    assert open_jobs(engine, lead_id, "process") == 1


def test_unknown_lead_says_so(signed_in: AppTest) -> None:
    open_lead(signed_in, "does-not-exist")
    assert "There is no lead with id" in signed_in.error[0].value


def test_the_score_is_shown_as_a_table_that_sums_to_it(signed_in: AppTest, make_lead: LeadFactory) -> None:
    components = [
        {"component": "fit", "points": 10, "reason": "company domain muster.de"},
        {"component": "intent", "points": 15, "reason": "asks for a quote or tender (“Angebot”)"},
        {"component": "reachability", "points": -0, "reason": "no phone"},
    ]
    open_lead(signed_in, make_lead(status="ready", score=25, grade="cold", score_components=components))
    table = next(frame.value for frame in signed_in.dataframe if "Points" in frame.value.columns)
    assert list(table["Why"])[:2] == ["company domain muster.de", "asks for a quote or tender (“Angebot”)"]
    assert list(table["Part"])[-1] == "Total" and list(table["Points"])[-1] == 25
    assert any("Score 25 (cold)" in expander.label for expander in signed_in.expander)


def test_a_rejected_lead_is_restored_with_one_click(signed_in: AppTest, make_lead: LeadFactory, engine: Engine) -> None:
    lead_id = make_lead(status="rejected", reasons=["rejected as junk: auto-reply (X-Autoreply header)"])
    open_lead(signed_in, lead_id)
    assert "Why it was rejected: rejected as junk" in signed_in.warning[0].value
    click(signed_in, "Restore")
    _, status, _, events = read(engine, lead_id)
    assert status == "needs_review" and events[-1] == ("restored", "operator")


def test_approve_is_off_for_a_lead_that_could_never_sync(signed_in: AppTest, make_lead: LeadFactory) -> None:
    open_lead(signed_in, make_lead(company=None, status="needs_review"))
    approve = next(button for button in signed_in.button if button.label == "Approve")
    assert approve.disabled and "company" in str(approve.help)


def test_an_imported_lead_shows_its_file_row_and_cells(signed_in: AppTest, engine: Engine) -> None:
    settings = get_settings()
    data = b"Firma;E-Mail;Notiz\n**Fett** GmbH;fett@fett.de;[klick](http://evil.example)\n"
    with Session(engine, expire_on_commit=False) as session:
        record = create_import(session=session, settings=settings, filename="messe_[1].csv", data=data, actor="anna")
        start_import(session=session, settings=settings, import_id=record.id, dry_run=False)
        claim_import(session=session, worker="test", lease_seconds=60)
    run_import(engine, settings, record.id, worker="test")
    with Session(engine) as session:
        lead_id = session.scalars(select(Lead.id)).one()
    open_lead(signed_in, lead_id)
    assert not signed_in.exception
    assert [header.value for header in signed_in.subheader if header.value == "Imported row"]
    source = next(item.value for item in signed_in.markdown if "open the import" in item.value)
    assert source == f"Row 2 of messe\\_\\[1\\]\\.csv ([open the import](/import?id={record.id}))"
    cells = next(frame.value for frame in signed_in.dataframe if "Field" in frame.value.columns)
    assert list(cells["Field"]) == ["Company", "E-mail", "Message / notes"]
    assert list(cells["Value"]) == ["**Fett** GmbH", "fett@fett.de", "[klick](http://evil.example)"]
    assert ":orange-badge[import 50%]" in [element.value for element in signed_in.markdown]


def test_the_company_explorer_record_is_a_link_when_its_address_is_configured(
    signed_in: AppTest, make_lead: LeadFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead_id = make_lead(status="synced", company_explorer_id="c/47 11)")
    open_lead(signed_in, lead_id)
    assert any("Company Explorer record c/47 11\\)" in caption.value for caption in signed_in.caption)
    monkeypatch.setenv("LEAD_ENGINE_COMPANY_EXPLORER_RECORD_URL", "https://ce.example/companies/{id}")
    get_settings.cache_clear()
    open_lead(signed_in, lead_id)
    link = "(https://ce.example/companies/c%2F47%2011%29)"
    assert any(link in caption.value for caption in signed_in.caption), [c.value for c in signed_in.caption]
    get_settings.cache_clear()


def test_previous_and_next_walk_the_list_the_operator_came_from(signed_in: AppTest, make_lead: LeadFactory) -> None:
    first, second, third = (make_lead(company=name) for name in ("Erste GmbH", "Zweite GmbH", "Dritte GmbH"))
    signed_in.session_state["lead_sequence"] = [first, second, third]
    open_lead(signed_in, second)
    assert any(caption.value == "Lead 2 of 3 in the list" for caption in signed_in.caption)
    click(signed_in, "Next")
    assert signed_in.title[0].value == "Dritte GmbH"
    assert next(button for button in signed_in.button if button.label == "Next").disabled
    click(signed_in, "Previous")
    click(signed_in, "Previous")
    assert signed_in.title[0].value == "Erste GmbH"


def test_the_email_shows_its_headers_and_downloads_as_eml(
    signed_in: AppTest, make_lead: LeadFactory, engine: Engine
) -> None:
    lead_id = make_lead(text="Firma: Muster GmbH\nBitte um Rückruf", html="<p>Firma: <b>Muster GmbH</b></p>")
    open_lead(signed_in, lead_id)
    headers = shown_text(signed_in)
    assert "From: noreply@tradingtwins.com" in headers and "Subject: Neue Anfrage 0" in headers
    assert [element.proto.label for element in signed_in.get("download_button")] == ["Download .eml"]
    with Session(engine) as session:
        lead = get_lead(session=session, lead_id=lead_id)
        raw = get_raw_message(session=session, lead_id=lead_id)
    eml = message_from_bytes(
        as_eml(
            read_inbound(raw.content_type, raw.body, source=lead.source),
            sender=None,
            subject=None,
            received_at=lead.received_at,
        ),
        policy=default,
    )
    assert eml["From"] == "noreply@tradingtwins.com" and eml["Subject"] == "Neue Anfrage 0"
    assert "Bitte um Rückruf" in eml.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<b>Muster GmbH</b>" in eml.get_body(("html",)).get_content()  # type: ignore[union-attr]
