"""The fast path for plain addresses answers exactly what email-validator answers."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from lead_engine.core.parsing.normalise import clean_value, normalize_email

LOCAL = st.text(alphabet="abcXYZ09._%+-", min_size=1, max_size=12)
LABEL = st.text(alphabet="abcXYZ09-", min_size=1, max_size=10)
TLD = st.sampled_from(["de", "com", "CO.UK", "x", "test", "local", "museum", "c0m", "onion", "xn--p1ai"])


def reference(value: str) -> str | None:
    cleaned = clean_value(value.strip("<>()[]\"' ").removeprefix("mailto:"))
    if not cleaned:
        return None
    try:
        return validate_email(cleaned, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@settings(max_examples=3000, deadline=None)
@given(LOCAL, st.lists(LABEL, min_size=0, max_size=3), TLD)
def test_plain_addresses_read_as_email_validator_reads_them(local: str, labels: list[str], tld: str) -> None:
    value = f"{local}@{'.'.join([*labels, tld])}"
    assert normalize_email(value) == reference(value)
