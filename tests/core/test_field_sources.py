"""Finding each lead field's value again in the e-mail text, as the lead page highlights it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from lead_engine.core.field_sources import find_sources
from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.parser import choose_body_text, parse_email
from lead_engine.core.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emails"


def found(text: str, **values: str) -> dict[str, list[str]]:
    spans = find_sources(text, values)
    shown: dict[str, list[str]] = {}
    for span in spans:
        shown.setdefault(span.field, []).append(text[span.start : span.end])
    return shown


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("Telefon: 0171 2345678", "+491712345678"),  # German mobile, trunk zero
        ("Tel.: +49 (0) 30 1234567", "+49301234567"),  # the "(0)" people write after the country code
        ("Phone: (312) 555-0147", "+13125550147"),  # NANP with parentheses
        ("Phone: 206-642-5913", "+12066425913"),  # NANP with dashes
        ("Tel 0041 44 123 45 67", "+41441234567"),  # 00 instead of +
        ("Mobil: 0171/234 56 78", "+491712345678"),  # slash and spaces
    ],
)
def test_a_phone_number_is_found_however_it_was_written(written: str, e164: str) -> None:
    shown = found(f"Hallo,\n{written}\nGruß", phone=e164)
    assert shown["phone"] == [written.split(" ", 1)[1].strip()]


def test_a_different_number_with_the_same_ending_is_not_taken_for_the_lead_s() -> None:
    text = "Kundennummer 12345678\nTelefon: 030 9876543"
    assert found(text, phone="+49301234567") == {}
    assert found(text, phone="+49309876543") == {"phone": ["030 9876543"]}


def test_values_are_found_as_whole_words_in_any_case_and_spacing() -> None:
    text = "Firma: MUSTER  Solar GmbH\nOrt: 10115 Berlin\nWebseite: https://www.muster-solar.de/"
    shown = found(text, company="Muster Solar GmbH", city="Berlin", postal_code="10115", website="muster-solar.de")
    assert shown == {
        "company": ["MUSTER  Solar GmbH"], "postal_code": ["10115"], "city": ["Berlin"],
        "website": ["muster-solar.de"],
    }  # fmt: skip
    assert found("Berliner Straße 1", city="Berlin") == {}  # part of a word is not the value


def test_a_shorter_value_does_not_take_the_place_of_a_longer_one_it_is_part_of() -> None:
    text = "Firma: Berlin Solar GmbH\nOrt: Berlin"
    spans = find_sources(text, {"company": "Berlin Solar GmbH", "city": "Berlin"})
    assert [(span.field, text[span.start : span.end], span.start) for span in spans] == [
        ("company", "Berlin Solar GmbH", 7),
        ("city", "Berlin", text.rindex("Berlin")),
    ]


def test_a_name_read_from_first_and_last_name_fields_is_found_in_both() -> None:
    text = "First Name: Jane\nLast Name: Doe\nEmail: jane@doe.example"
    assert found(text, contact_name="Jane Doe", email="jane@doe.example") == {
        "contact_name": ["Jane", "Doe"], "email": ["jane@doe.example"],
    }  # fmt: skip
    assert found("First Name: Jane", contact_name="Jane Doe") == {}  # half a name is not the name


def test_a_country_is_found_by_its_name_and_a_value_the_text_lacks_is_not_found() -> None:
    text = "Land: Deutschland\nBranche: Logistik"
    assert found(text, country="DE", industry="Maschinenbau", company="Typed By A Person GmbH") == {
        "country": ["Deutschland"]
    }


def test_markup_and_regex_characters_in_values_are_matched_literally() -> None:
    text = "Firma: <b>A+B (Süd) [GmbH]</b>.*"
    assert found(text, company="A+B (Süd) [GmbH]") == {"company": ["A+B (Süd) [GmbH]"]}
    assert found("Firma: AAAA", company=".*") == {}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml"))[::10], ids=lambda path: path.stem)
def test_parsed_fixture_values_mostly_stand_in_the_text_they_were_read_from(path: Path) -> None:
    email = email_input_from_mime(path.read_bytes(), source="email")
    text = choose_body_text(email)
    values = {name: field.value for name, field in parse_email(email, settings=Settings()).fields.items()}
    spans = find_sources(text, values)
    assert all(text[span.start : span.end].strip() for span in spans)
    assert all(earlier.end <= later.start for earlier, later in itertools.pairwise(spans))
    key = [name for name in ("email", "company") if values.get(name) and values[name].lower() in text.lower()]
    assert {span.field for span in spans} >= set(key)  # a key value the text holds verbatim is always found
