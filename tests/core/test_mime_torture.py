"""CPython's MIME torture corpus: every message reads and parses into a lead, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from lead_engine.core.lead_fields import CANONICAL_FIELDS, InboundEmail, ParsedLead
from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.parser import parse_email
from lead_engine.core.settings import Settings

CORPUS = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "mime_torture").glob("msg_*.txt"))


@pytest.fixture(scope="module")
def rules_only() -> Settings:
    """Rules only: the corpus tests the parser, not an LLM."""
    return Settings(_env_file=None, own_domains="mustersolar.de")  # type: ignore[call-arg]


def test_corpus_is_present() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[path.name for path in CORPUS])
def test_torture_message_parses_without_exception(path: Path, rules_only: Settings) -> None:
    inbound = email_input_from_mime(path.read_bytes(), source="torture")

    lead = parse_email(inbound, settings=rules_only)

    assert isinstance(inbound, InboundEmail) and inbound.raw_mime == path.read_bytes()
    assert isinstance(lead, ParsedLead)
    assert set(lead.fields) <= set(CANONICAL_FIELDS)
    assert lead.needs_review or lead.value("email") or lead.value("company")
    assert not lead.needs_review or lead.reasons
    assert not any("parser failed" in reason for reason in lead.reasons)
