"""The parser's shortcuts give the answers of the slower code they stand in for."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from nameparser import HumanName

from lead_engine.core.parsing.candidates import Exclusions
from lead_engine.core.parsing.normalise import _SALUTATIONS, _name_constants, clean_value, split_contact_name
from lead_engine.core.parsing.signature import _EMAIL, find_emails


def _findall(text: str) -> list[str]:
    return [match.strip(".'") for match in _EMAIL.findall(text[:200_000])]


@given(st.text(alphabet="ab.-'+_@ \n1ä", max_size=150))
@hypothesis_settings(max_examples=500, deadline=None)
def test_find_emails_finds_what_the_pattern_finds(text: str) -> None:
    assert find_emails(text) == _findall(text)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 70 + "@acme.de",  # a local part longer than the pattern allows
        "a@b a@b.de @@ x@y.z.",
        "Mail: anna.schmidt@acme.de, Kopie an: bob@example.org.",
        ("a" * 100 + "@" + "b" * 70 + "." + "c" * 70 + ".de ") * 5,
    ],
)
def test_find_emails_on_edge_cases(text: str) -> None:
    assert find_emails(text) == _findall(text)


def _nameparser(value: str) -> tuple[str | None, str | None]:
    # split_contact_name's answer through nameparser alone.
    name = HumanName(value, constants=_name_constants())
    name.capitalize(force=False)
    salutation = None
    for word in name.title.replace(".", " ").split():
        salutation = salutation or _SALUTATIONS.get(word.lower())
    full = " ".join(part for part in (name.first, name.middle, name.last) if part).strip()
    if name.suffix and name.suffix.lower() not in {"phd", "ph.d.", "msc", "mba"}:
        full = f"{full} {name.suffix}"
    return salutation, clean_value(full)


_WORDS = (
    "Anna", "Thomas", "Schmidt", "Müller-Lüdenscheidt", "Anna-Lena", "Van", "Von", "De", "La", "Del", "St", "Bin",
    "Abu", "Mac", "Sir", "King", "Dr", "Jr", "Ii", "Iii", "Esq", "Prof", "Ing", "Mag", "Phd", "And", "Und", "Al",
    "El", "Lord", "Rev", "Don", "Saint", "San", "Ter", "Vom", "Zu", "Abdul", "Umm", "Lee", "Ma", "Li",
)  # fmt: skip
_SALUTATION_WORDS = ("", "Herr ", "Frau ", "Mr ", "Mr. ", "Mrs ", "Ms. ", "Miss ", "Hr. ", "Fr. ", "Divers ")


@given(st.sampled_from(_SALUTATION_WORDS), st.sampled_from(_WORDS), st.sampled_from(_WORDS))
@hypothesis_settings(max_examples=400, deadline=None)
def test_plain_names_read_as_nameparser_reads_them(salutation: str, first: str, last: str) -> None:
    value = f"{salutation}{first} {last}"
    assert split_contact_name(value) == _nameparser(value)


def test_operator_numbers_are_read_only_when_a_lead_number_could_be_one() -> None:
    exclusions = Exclusions(operator_text="Muster Solar GmbH\nTel. 0351 4567890", operator_region="DE")
    assert not exclusions.excludes_phone("+4930123456")
    assert not exclusions.phones  # no digits in common: the operator's text was not searched
    assert exclusions.excludes_phone("+493514567890")
    assert exclusions.phones == {"+493514567890"}


def test_operator_numbers_in_other_digits_are_read_all_the_same() -> None:
    # Full-width digits: phonenumbers reads them, the shortcut's digit comparison cannot, so it steps aside.
    text = "Tel. " + re.sub(r"\d", lambda m: chr(0xFF10 + int(m[0])), "0351 4567890")
    assert Exclusions(operator_text=text, operator_region="DE").excludes_phone("+493514567890")


def test_operator_companies_are_whole_lines_with_a_legal_form() -> None:
    exclusions = Exclusions(operator_text="Viele Grüße\n  Muster Solar GmbH \nMuster Solar\nFirma: Acme AG")
    assert exclusions.excludes_company("MUSTER SOLAR GMBH")
    assert not exclusions.excludes_company("Muster Solar")  # a line, but no legal form
    assert not exclusions.excludes_company("Acme AG")  # a legal form, but not a whole line
