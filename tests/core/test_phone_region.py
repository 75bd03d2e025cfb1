"""The country of a stored international number, read without parsing it, is the one phonenumbers gives."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from lead_engine.core.qualification.scoring import region_of_phone

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def reference(phone: str) -> str | None:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(CODES), st.text(alphabet="0123456789", min_size=0, max_size=20))
def test_every_calling_code_reads_as_phonenumbers_reads_it(code: int, rest: str) -> None:
    phone = f"+{code}{rest}"
    assert region_of_phone(phone) == reference(phone)


def test_numbers_not_in_e164_are_parsed() -> None:
    assert region_of_phone("+49 89 1234567") == "DE"
    assert region_of_phone("+1 212 555 0100") == "US"
    assert region_of_phone("+") is None
