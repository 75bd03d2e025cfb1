"""Where a lead's field values stand in its e-mail text, so a person can see each one highlighted at its source.

The parser keeps values, not positions; this finds each value again in the text it read, forgiving what the
parser normalised (a phone number's E.164 form, a website's scheme, spacing, letter case). A value typed by a
person or mapped from a form field the text does not show is simply not found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from lead_engine.core.parsing.normalise import normalize_country

# Fields in the order they claim text: a shorter, vaguer value (city, postcode) must not take the place of
# a longer one it is part of ("Berlin" inside "Berlin Solar GmbH").
CLAIM_ORDER = (
    "email", "phone", "website", "company", "contact_name", "street", "postal_code", "city", "country",
    "salutation", "industry", "employees", "budget", "external_id", "message",
)  # fmt: skip
# Runs of digits and the characters people write between them, as a phone number is written.
_PHONE_LIKE = re.compile(r"(?:\+|\(0?)?\d[\d ()/.\u00a0\-]{4,24}\d")
_MESSAGE_WORDS = 60  # a longer message is found by its first words


@dataclass(frozen=True)
class Span:
    """One field's value found at ``text[start:end]``."""

    start: int
    end: int
    field: str


def find_sources(text: str, values: Mapping[str, str | None]) -> list[Span]:
    """Each field's first place in ``text`` that no field earlier in ``CLAIM_ORDER`` took, in text order."""
    taken: list[Span] = []
    for name in CLAIM_ORDER:
        value = (values.get(name) or "").strip()
        if not value:
            continue
        for start, end in _places(name, value, text):
            if not any(start < span.end and span.start < end for span in taken):
                taken.append(Span(start, end, name))
                if name != "contact_name":  # a name read from two fields ("Vorname", "Nachname") has two places
                    break
    return sorted(taken, key=lambda span: span.start)


def _places(name: str, value: str, text: str) -> Iterator[tuple[int, int]]:
    if name == "phone":
        yield from _phone_places(value, text)
    elif name == "country":
        yield from _country_places(value, text)
    elif name == "website":
        bare = re.sub(r"^(?:https?://)?(?:www\.)?", "", value, flags=re.IGNORECASE).rstrip("/")
        yield from _word_places(bare, text)
    elif name == "contact_name":
        whole = list(_word_places(value, text))
        if whole:
            yield from whole
            return
        parts = [list(_word_places(word, text)) for word in value.split() if len(word) > 1]
        if parts and all(parts):  # every part of the name stands somewhere: first-name and last-name fields
            for found in parts:
                yield found[0]
    elif name == "message":
        words = value.split()
        yield from _word_places(" ".join(words[:_MESSAGE_WORDS]), text)
    else:
        yield from _word_places(value, text)


def _word_places(value: str, text: str) -> Iterator[tuple[int, int]]:
    """Places of ``value`` as whole words, any case, any whitespace between its words."""
    words = value.split()
    if not words:
        return
    pattern = r"\s+".join(re.escape(word) for word in words)
    for match in re.finditer(rf"(?<!\w){pattern}(?!\w)", text, flags=re.IGNORECASE):
        yield match.span()


def _phone_places(e164: str, text: str) -> Iterator[tuple[int, int]]:
    """Numbers written any usual way whose digits are the E.164 number's, with or without the country code."""
    wanted = re.sub(r"\D", "", e164)
    for match in _PHONE_LIKE.finditer(text):
        written = match.group()
        digits = re.sub(r"\D", "", written.replace("(0)", ""))  # "+49 (0) 30 …": the zero is not dialled
        if written.startswith("+") or digits.startswith("00"):
            same = digits.removeprefix("00") == wanted
        else:  # national form: the trunk 0 dropped, the rest ends the international number
            national = digits.removeprefix("0")
            same = len(national) >= 6 and wanted.endswith(national) and len(wanted) - len(national) <= 3
        if same:
            start = match.start() + (1 if written.startswith("(") and not written[1:2].isdigit() else 0)
            yield start, match.end()


def _country_places(code: str, text: str) -> Iterator[tuple[int, int]]:
    """A line, or the value after a line's label, that names the country (``Land: Deutschland``)."""
    offset = 0
    for line in text.splitlines(keepends=True):
        value = line.rpartition(":")[2].strip()
        if len(value) > 1 and normalize_country(value) == code:
            start = offset + line.rindex(value)
            yield start, start + len(value)
        offset += len(line)
