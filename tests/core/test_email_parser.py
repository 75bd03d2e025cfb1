"""Behaviours of parse_email beyond the fixture corpus: robustness, operator data, normalisation."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lead_engine.core.lead_fields import InboundEmail, ParsedLead
from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.html_text import html_to_text
from lead_engine.core.parsing.normalise import (
    normalize_country,
    normalize_phone,
    normalize_website,
    split_contact_name,
    split_postal_city,
)
from lead_engine.core.parsing.parser import parse_email
from lead_engine.core.parsing.reader import extract_label_values
from lead_engine.core.settings import Settings


@pytest.fixture(scope="module")
def settings() -> Settings:
    """Rules only, operator Muster Solar."""
    return Settings(_env_file=None, own_domains="mustersolar.de")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "inbound",
    [
        InboundEmail(),  # nothing at all
        InboundEmail(text="\x00\x00\x00", html="\x00"),  # NUL bytes only
        InboundEmail(text="a" * 2_000_000),  # one enormous line
        InboundEmail(text="Firma:\n" * 50_000),  # labels without values
        InboundEmail(html="<div>" * 100_000 + "Firma: X GmbH" + "</div>" * 100_000),  # nesting beyond lxml's limit
        InboundEmail(html="<table>" * 5_000 + "<tr><td>E-Mail</td><td>a@b.de</td></tr>"),  # unclosed tables
        InboundEmail(html="<script>" + "while(1){}" * 10_000 + "</script><p>Hallo</p>"),  # script-heavy
        InboundEmail(html="<<<>>><!-- <p <a href='x>\"y"),  # not even markup
        InboundEmail(text="-----Ursprüngliche Nachricht-----\n" * 2_000),  # endless forward markers
        InboundEmail(text="> " * 100_000),  # one quote line of quote markers
        InboundEmail(sender="=?utf-8?b?broken", subject="=?x-unknown?q?=FF?="),  # broken encoded words
        InboundEmail(text="Telefon: +49 " + "1" * 500, sender="<@>"),  # absurd number, empty address
    ],
    ids=lambda inbound: (
        (inbound.text or inbound.html or inbound.sender or "empty")[:20].encode("unicode_escape").decode()
    ),
)
def test_parse_email_never_raises_and_flags_nothing_usable(inbound: InboundEmail, settings: Settings) -> None:
    started = time.monotonic()
    lead = parse_email(inbound, settings=settings)
    assert time.monotonic() - started < 30  # a hang guard, not a benchmark
    assert lead.needs_review == bool(lead.reasons)
    assert not any("parser failed" in reason for reason in lead.reasons)


def test_own_domain_data_is_never_the_leads(settings: Settings) -> None:
    inbound = InboundEmail(
        sender="Klaus Becker <k.becker@mustersolar.de>",
        text="Kunde ruft an, bitte melden.\nE-Mail: vertrieb@mustersolar.de\nWeb: www.mustersolar.de\n",
    )
    lead = parse_email(inbound, settings=settings)
    assert lead.value("email") is None and lead.value("website") is None
    assert lead.needs_review


def test_reply_to_of_a_contact_form_is_the_visitor(settings: Settings) -> None:
    inbound = InboundEmail(
        sender="WordPress <wordpress@mustersolar.de>",
        subject="Kontaktformular",
        text="Name: Eva Roth\nNachricht: Bitte um Rückruf.\n",
        extra={"reply_to": "Eva Roth <eva@roth-design.de>"},
    )
    lead = parse_email(inbound, settings=settings)
    assert lead.value("email") == "eva@roth-design.de"
    assert lead.value("contact_name") == "Eva Roth"


def test_phone_is_read_in_the_leads_country(settings: Settings) -> None:
    inbound = InboundEmail(
        text="Firma: Alpen Holz GmbH\nTelefon: 0512 123456\nLand: Österreich\nE-Mail: a@alpenholz.at"
    )
    lead = parse_email(inbound, settings=settings)
    assert lead.value("country") == "AT"
    assert lead.value("phone") == "+43512123456"


def test_every_value_has_provenance_and_confidence(settings: Settings) -> None:
    lead = parse_email(InboundEmail(text="Firma: Alpen Holz GmbH\nE-Mail: a@alpenholz.at"), settings=settings)
    assert lead.value("company") == "Alpen Holz GmbH" and lead.value("email") == "a@alpenholz.at"
    assert {value.provenance for value in lead.fields.values()} == {"rule"}
    assert all(0 < value.confidence <= 1 for value in lead.fields.values())


@pytest.mark.parametrize(
    ("raw", "salutation", "name"),
    [
        ("Herr Dr. Thomas Müller", "Herr", "Thomas Müller"),  # salutation and title
        ("Frau Prof. Dr. Anna-Lena von Weizsäcker", "Frau", "Anna-Lena von Weizsäcker"),  # nobiliary particle
        ("Schmidt, Anna", None, "Anna Schmidt"),  # surname first
        ("Mr. John O'Neil", "Mr", "John O'Neil"),  # English
        ("ANNA SCHMIDT", None, "Anna Schmidt"),  # shouting
        ("info@x.de", None, None),  # not a name
    ],
)
def test_split_contact_name(raw: str, salutation: str | None, name: str | None) -> None:
    assert split_contact_name(raw) == (salutation, name)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("www.Baecker-GmbH.de/kontakt?x=1", "https://www.baecker-gmbh.de"),  # path and case dropped
        ("http://shop.acme.co.uk", "http://shop.acme.co.uk"),  # scheme kept, multi-part suffix
        ("acme", None),  # no public suffix
        ("mailto:a@b.de", None),  # an address, not a site
    ],
)
def test_normalize_website_offline(raw: str, expected: str | None) -> None:
    assert normalize_website(raw) == expected


def test_small_normalizers() -> None:
    assert normalize_country("Deutschland") == "DE" and normalize_country("ch") == "CH"
    assert normalize_country("Atlantis") is None
    assert normalize_phone("0171/1234567", "DE") == "+491711234567"
    assert normalize_phone("12", "DE") is None
    assert split_postal_city("D-80331 München") == ("80331", "München", "DE")


def test_labels_on_same_and_next_line_and_tables() -> None:
    text = (
        "Firma      Muster AG\nE-Mail:\nanna@muster.ag\nPLZ / Ort: 10115 Berlin\n"
        "Nachricht:\nZeile 1\nZeile 2\nTelefon: 030 1234567"
    )
    values = extract_label_values(text).values
    assert values == {
        "company": "Muster AG",
        "email": "anna@muster.ag",
        "postal_city": "10115 Berlin",
        "message": "Zeile 1\nZeile 2",
        "phone": "030 1234567",
    }


def test_html_tables_become_label_value_rows() -> None:
    text = html_to_text("<table><tr><td>Firma</td><td>Muster AG</td></tr><tr><td>Ort</td><td>Berlin</td></tr></table>")
    assert [line.split() for line in text.splitlines()] == [["Firma", "Muster", "AG"], ["Ort", "Berlin"]]


def test_forwarding_colleagues_company_and_phone_are_not_the_leads() -> None:
    # No own domain configured: the forward itself tells whose data is whose.
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    text = (
        "Bitte übernehmen.\n\nKlaus Becker\nMuster Solar GmbH\nTel. 030 5550100\n\n"
        "---------- Forwarded message ---------\nFrom: Eva Lang <eva@lang-bau.de>\nSubject: Anfrage\n\n"
        "Hallo, bitte um ein Angebot; Rückruf unter 030 5550100 oder 0171 2233445.\n\n"
        "Gruß\nEva Lang\nMuster Solar GmbH\n"
    )
    lead = parse_email(InboundEmail(sender="Klaus Becker <klaus@mustersolar.de>", text=text), settings=settings)
    assert lead.value("company") is None
    assert lead.value("phone") == "+491712233445"
    assert lead.value("email") == "eva@lang-bau.de"


def _form(text: str, settings: Settings) -> ParsedLead:
    """A website form mail from the operator's own mailer, as Contact Form 7 sends it."""
    return parse_email(InboundEmail(sender="WordPress <wordpress@mustersolar.de>", text=text), settings=settings)


@pytest.mark.parametrize(
    ("text", "phone", "doubtful"),
    [
        ("Name: John Miller\nPhone: (312) 555-0147\nMessage: We need a quote for our barn.", "+13125550147", False),
        ("Name: Sarah Connor\nPhone: 206-642-5913\nMessage: Please call me back.", "+12066425913", False),
        ("Name: Tom Baker\nEmail: tom@bakerandsons.co.uk\nPhone: 020 8408 1740\nMessage: Hi.", "+442084081740", False),
        ("Name: Tom Baker\nCountry: United Kingdom\nPhone: 020 8408 1740\nMessage: Hi.", "+442084081740", False),
        ("Name: Anna Berg\nTelefon: 030 12345678\nNachricht: Bitte um ein Angebot.", "+493012345678", False),
        # English, no country, no domain that says where: valid in Germany and in Britain alike — a guess, flagged.
        ("Name: Tom Baker\nEmail: tom@gmail.com\nPhone: 020 8408 1740\n"
         "Message: Hello, we would like a quote for the roof of our warehouse, please.", "+492084081740", True),
    ],
)  # fmt: skip
def test_phone_region_comes_from_the_evidence_in_the_mail(
    text: str, phone: str, doubtful: bool, settings: Settings
) -> None:
    lead = _form(text, settings)

    assert lead.value("phone") == phone
    assert any("phone number" in reason for reason in lead.reasons) is doubtful


def test_contact_form_7_from_line_keeps_company_and_phone(settings: Settings) -> None:
    lead = _form(
        "Von: Petra Vogel <p.vogel@vogel-bau.de>\nFirma: Vogel Bau GmbH\nTelefon: 0711 2345678\nBetreff: Angebot\n\n"
        "Nachrichtentext:\nWir brauchen ein Angebot für drei Hallen.\n\n-- \n"
        "Diese E-Mail wurde von einem Kontaktformular von Muster Solar (https://www.mustersolar.de) gesendet",
        settings,
    )

    assert (lead.value("contact_name"), lead.value("email")) == ("Petra Vogel", "p.vogel@vogel-bau.de")
    assert (lead.value("company"), lead.value("phone")) == ("Vogel Bau GmbH", "+497112345678")


def test_combined_address_and_unknown_person_labels(settings: Settings) -> None:
    lead = _form(
        "--- Kontaktdaten ---\nAnfragender: Herr Klaus Berger\nFirma: Berger Metallbau GmbH\n"
        "Anschrift: Industriestraße 5, 73728 Esslingen\nRückrufnummer: 0711 3456789\n--- Ihr Anliegen ---\n"
        "Ihr Anliegen: PV für unsere Halle",
        settings,
    )

    assert lead.value("contact_name") == "Klaus Berger"
    assert (lead.value("street"), lead.value("postal_code"), lead.value("city")) == (
        "Industriestraße 5",
        "73728",
        "Esslingen",
    )
    assert lead.value("message") == "PV für unsere Halle"


def test_vendor_footer_is_never_the_company(settings: Settings) -> None:
    lead = parse_email(
        InboundEmail(
            sender="HubSpot <noreply@notifications.hubspot.com>",
            text="New form submission\n\nFirst Name: Emma\nLast Name: Wagner\nEmail: emma@wagner-logistik.de\n"
            "Message: Bitte um Rückruf.\n\nHubSpot, Inc. 2 Canal Park, Cambridge, MA 02141, USA",
        ),
        settings=settings,
    )

    assert lead.value("contact_name") == "Emma Wagner"
    assert lead.value("company") is None


@pytest.mark.parametrize(
    ("line", "company"),
    [
        ("Mark Evans\nHead of Facilities, Evans Foods Ltd", "Evans Foods Ltd"),
        ("Anna Schmidt\nEinkauf | Schmidt Druck GmbH", "Schmidt Druck GmbH"),
    ],
)
def test_signature_role_and_company(line: str, company: str, settings: Settings) -> None:
    text = f"Hello,\n\nwe would like a quote for our roof.\n\nBest regards\n{line}\n+44 161 496 0000"
    lead = parse_email(InboundEmail(sender="someone@example.co.uk", text=text), settings=settings)

    assert lead.value("company") == company


@pytest.mark.parametrize(
    ("text", "company"),
    [
        ("Hi,\n\nWe're Evans Foods Ltd and we run three bakeries. We need a quote.\n\nThanks\nMark", "Evans Foods Ltd"),
        (
            "Hallo,\n\nwir von der Müller Haustechnik GmbH suchen einen Partner.\n\nGruß\nJörg",
            "Müller Haustechnik GmbH",
        ),
    ],
)
def test_company_named_in_prose(text: str, company: str, settings: Settings) -> None:
    lead = parse_email(InboundEmail(sender="someone@example.de", text=text), settings=settings)

    assert lead.value("company") == company


def test_hostile_values_are_cleaned_and_sent_to_review(settings: Settings) -> None:
    lead = _form(
        "Von: Eve <eve@evil.example.com>\nFirma: <script>alert(1)</script><b>Evil</b> GmbH\n"
        "Name: Anna \u200dSchmidt \U0001f469\u200d\U0001f4bc\u202e\nTelefon: 030 1234567\n\nNachrichtentext:\nhallo",
        settings,
    )

    assert lead.value("company") == "Evil GmbH"
    assert lead.value("contact_name") == "Anna Schmidt"
    assert lead.needs_review
    assert any("company had markup" in reason for reason in lead.reasons)


def test_huge_field_values_are_not_names(settings: Settings) -> None:
    lead = _form(f"Firma: {'Acme ' * 10_000}GmbH\nName: {'Anna ' * 5_000}\nE-Mail: anna@acme.de", settings)

    assert lead.value("company") is None
    assert lead.value("contact_name") is None
    assert lead.value("email") == "anna@acme.de"


_INVISIBLE = {chr(code) for code in (0x200B, 0x200D, 0x202E, 0x2066, 0xFEFF, 0x00)}


@given(
    text=st.text(max_size=2_000),
    html=st.one_of(st.just(""), st.text(alphabet="<>/=\"' abcdiv:tdrEMail@.-\n", max_size=2_000)),
    label=st.sampled_from(["Firma", "Name", "E-Mail", "Telefon", "Anschrift", "Nachricht", "Company", "Phone"]),
)
@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_parser_never_raises_and_never_passes_hidden_characters(
    text: str, html: str, label: str, settings: Settings
) -> None:
    lead = parse_email(InboundEmail(text=f"{label}: {text}\n{text}", html=html), settings=settings)

    for name, found in lead.fields.items():
        assert not (_INVISIBLE & set(found.value)), name
        assert "<script" not in found.value.lower(), name


@given(raw=st.binary(max_size=3_000))
@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_mime_never_breaks_the_parser(raw: bytes, settings: Settings) -> None:
    lead = parse_email(
        email_input_from_mime(b"Content-Type: multipart/mixed; boundary=x\n\n--x\n" + raw), settings=settings
    )

    assert isinstance(lead, ParsedLead)


def test_dashed_label_blocks_and_block_headings(settings: Settings) -> None:
    lead = _form(
        "--- Kontaktdaten ---\n\n--- Name ---\n\nOlivia Turner\n\n--- Email ---\n\nolivia@turnerhale.com\n\n"
        "--- Comment or Message ---\n\nWe would like a proposal for PV on both buildings.\n",
        settings,
    )

    assert (lead.value("contact_name"), lead.value("email")) == ("Olivia Turner", "olivia@turnerhale.com")
    assert lead.value("message") == "We would like a proposal for PV on both buildings."
