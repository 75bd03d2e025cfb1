"""Behaviours of parse_email beyond the fixture corpus: robustness, operator data, normalisation."""

from __future__ import annotations

import time

import pytest

from lead_engine.core.lead_fields import InboundEmail
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
