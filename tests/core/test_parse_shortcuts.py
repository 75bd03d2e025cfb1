"""The parser's shortcuts give the answers of the slower code they stand in for."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mailparser_reply import EmailReplyParser
from nameparser import HumanName

from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.candidates import Exclusions
from lead_engine.core.parsing.normalise import _SALUTATIONS, _name_constants, clean_value, split_contact_name
from lead_engine.core.parsing.replies import fold_case, read_replies
from lead_engine.core.parsing.signature import _EMAIL, find_emails
from lead_engine.core.parsing.thread import _QUOTING_WORDS, may_be_quoted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emails"


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


# The one case-blind pattern may_be_quoted stands in for.
_MAYBE_QUOTED = re.compile(
    r"^\s*>|wrote:|schrieb|a écrit|escribió|написал|skrev|escreveu|schreef|geschreven|forwarded|weitergeleitet"
    r"|réexpédié|reenviado|vidarebefordrat|doorgestuurd|original|ursprüngliche|transféré|пересылаемое|_{20}"
    r"|^[ \t*]*(?:from|von|de|van|från|от кого|sent|gesendet|envoyé|enviado)[ \t*]*:|\d{4}/\d{1,2}/\d{1,2} .*<.*@.*>",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTING_TEXT = st.lists(
    st.sampled_from(["WROTE:", "Wrote", ":", "Schrieb", "ORİGINAL", "orıginal", "forwarded", "ſkrev", "ПЕРЕСЫЛАЕМОЕ",
                     "пересылаемᲂе", "_" * 10, "_", " ", "\n", "\t", ">", "  >", "Von:", "* FROM *:", "de :",
                     "2025/3/1", " x <a@b.de>", "É", "é", "A ÉCRIT", "a écrit", "\u0307", "x"]),
    max_size=12,
).map("".join)  # fmt: skip


@given(_QUOTING_TEXT)
@hypothesis_settings(max_examples=1000, deadline=None)
def test_quoting_markers_are_found_as_the_case_blind_pattern_finds_them(text: str) -> None:
    assert may_be_quoted(text) == bool(_MAYBE_QUOTED.search(text))


def test_case_folding_takes_every_letter_a_case_blind_pattern_takes() -> None:
    letters = sorted({letter for word in (*_QUOTING_WORDS, "mail") for letter in word})
    any_letter = re.compile("[" + re.escape("".join(letters)) + "]", re.IGNORECASE)
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        folded = fold_case(char)
        # A character the pattern takes for a letter folds to it; any other folds to none of the letters.
        if any_letter.fullmatch(char):
            assert folded in letters and re.fullmatch(re.escape(folded), char, re.IGNORECASE), hex(code)
        else:
            assert not set(folded) & set(letters), hex(code)


def _library_replies(text: str) -> list[tuple[str, str, str, list[str]]]:
    replies = EmailReplyParser(languages=["de", "en"]).read(text).replies
    return [(reply.content, reply.headers or "", reply.signatures or "", reply.disclaimers or []) for reply in replies]


_REPLY_TEXT = st.lists(
    st.sampled_from(["Hallo,\n", "wir planen eine PV-Anlage.\n", "\n", "Mit freundlichen Grüßen\n", "Best regards,\n",
                     "Anna Schmidt\n", "-- \n", "--\n", "- Punkt\n", "Von: Anna <a@b.de>\n", "Gesendet: Montag\n",
                     "From: Bob\n", "Sent: Monday\n", "Am 3. März 2025 schrieb Anna <a@b.de>:\n",
                     "On Mon, 3 Mar 2025 Bob wrote:\n", "-----Original Message-----\n", "> zitiert\n", "_" * 32 + "\n",
                     "Disclaimer: this e-mail is confidential\n", "Hinweis: Diese E-Mail ist vertraulich.\n",
                     "Sent from my iPhone\n", "Tel. 030 123456\n", "Thanks,\n", "MAİL\n"]),
    max_size=14,
).map("".join)  # fmt: skip


@given(_REPLY_TEXT)
@hypothesis_settings(max_examples=500, deadline=None)
def test_replies_are_split_as_the_library_splits_them(text: str) -> None:
    ours = [(reply.content, reply.headers or "", reply.signatures or "", reply.disclaimers or [])
            for reply in read_replies(text)]  # fmt: skip
    assert ours == _library_replies(text)


def test_fixture_mails_are_split_as_the_library_splits_them() -> None:
    for path in sorted(FIXTURES.glob("*.eml")):
        text = email_input_from_mime(path.read_bytes()).text
        assert [(r.content, r.headers or "", r.signatures or "", r.disclaimers or []) for r in read_replies(text)] == (
            _library_replies(text)
        ), path.name
