"""Every fixture e-mail goes through the production entry points and must give exactly its expected lead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.parser import parse_email
from lead_engine.core.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emails"
EMAILS = sorted(FIXTURES.glob("*.eml"))


@pytest.fixture(scope="module")
def operator_settings() -> Settings:
    """The operator is Muster Solar (mustersolar.de), in Germany, without an LLM."""
    return Settings(_env_file=None, own_domains="mustersolar.de", default_country="DE")  # type: ignore[call-arg]


def test_fixture_corpus_is_complete() -> None:
    assert len(EMAILS) >= 40
    assert all(path.with_suffix(".json").exists() for path in EMAILS)


@pytest.mark.parametrize("path", EMAILS, ids=[path.name for path in EMAILS])
def test_fixture_email_parses_to_expected_lead(path: Path, operator_settings: Settings) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    unknown = set(expected) - set(CANONICAL_FIELDS) - {"needs_review"}
    assert not unknown, f"unknown keys in {path.with_suffix('.json').name}: {unknown}"

    lead = parse_email(email_input_from_mime(path.read_bytes()), settings=operator_settings)

    got = {name: lead.value(name) for name in CANONICAL_FIELDS}
    want = {name: expected.get(name) for name in CANONICAL_FIELDS}
    assert got == want, f"reasons: {lead.reasons}"
    if "needs_review" in expected:
        assert lead.needs_review is expected["needs_review"], f"reasons: {lead.reasons}"
    assert all(value.provenance == "rule" and 0 < value.confidence <= 1 for value in lead.fields.values())
