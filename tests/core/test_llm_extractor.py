"""The LLM second pass through the real openai client against an OpenAI-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lead_engine.core.lead_fields import InboundEmail
from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.llm import OpenAIExtractor, ground_values, validate_reply
from lead_engine.core.parsing.parser import parse_email
from lead_engine.core.settings import Settings
from tests.support.openai_server import OpenAIStub, ScriptedReply, serve_openai
from tests.support.servers import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emails"
# The municipality has no legal form, so the rules cannot name the company; the LLM can.
MUNICIPALITY_MAIL = InboundEmail(
    subject="PV Sporthalle",
    sender="Heike Brandt <h.brandt@waldbrunn-westerwald.de>",
    text=(
        "Guten Tag,\n\nwir, die Gemeinde Waldbrunn, planen eine PV-Anlage auf der Sporthalle.\n\n"
        "Mit freundlichen Grüßen\nHeike Brandt\nTel. 06436 91010\n"
    ),
)


def llm_settings(base_url: str) -> Settings:
    """Settings pointing the extractor at a local endpoint, with short timeouts."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None, openai_base_url=base_url, openai_api_key="test-key", llm_timeout=5, own_domains="mustersolar.de"
    )


@pytest.fixture
def openai_stub() -> Iterator[tuple[OpenAIStub, Settings]]:
    """A running stub and settings that point at it."""
    with serve_openai() as (stub, base_url):
        yield stub, llm_settings(base_url)


@pytest.fixture
def extractor(openai_stub: tuple[OpenAIStub, Settings]) -> Iterator[OpenAIExtractor]:
    """The real extractor on the real openai client, talking to the stub."""
    extractor = OpenAIExtractor(openai_stub[1])
    yield extractor
    extractor.close()


def test_llm_fills_only_the_fields_rules_missed(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor
) -> None:
    stub, settings = openai_stub
    stub.script(ScriptedReply(values={"company": "Gemeinde Waldbrunn", "city": "Waldbrunn"}))

    lead = parse_email(MUNICIPALITY_MAIL, settings=settings, extractor=extractor)

    assert lead.fields["company"].value == "Gemeinde Waldbrunn"
    assert lead.fields["company"].provenance == "llm"
    assert lead.fields["email"].provenance == "rule"
    assert lead.value("phone") == "+49643691010"
    asked = stub.requested_fields()
    assert "company" in asked and "email" not in asked and "phone" not in asked
    assert stub.requests[0]["response_format"]["json_schema"]["strict"] is True
    assert not lead.needs_review, lead.reasons


def test_invalid_json_is_asked_again_with_the_error(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor
) -> None:
    stub, settings = openai_stub
    stub.script(
        ScriptedReply(content="Sure! Here is the JSON: {company: Gemeinde"),
        ScriptedReply(values={"company": "Gemeinde Waldbrunn"}),
    )

    lead = parse_email(MUNICIPALITY_MAIL, settings=settings, extractor=extractor)

    assert lead.value("company") == "Gemeinde Waldbrunn"
    assert len(stub.requests) == 2
    assert "not valid JSON" in stub.requests[1]["messages"][-1]["content"]
    assert not lead.needs_review, lead.reasons


def test_invalid_reply_twice_keeps_rules_and_needs_review(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor
) -> None:
    stub, settings = openai_stub
    stub.script(ScriptedReply(content="[]"), ScriptedReply(content='{"company": 42}'))

    lead = parse_email(MUNICIPALITY_MAIL, settings=settings, extractor=extractor)

    assert lead.needs_review
    assert any("invalid after a re-ask" in reason for reason in lead.reasons)
    assert lead.value("email") == "h.brandt@waldbrunn-westerwald.de" and lead.value("company") is None


def test_ungrounded_email_and_phone_are_dropped(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor
) -> None:
    stub, settings = openai_stub
    mail = InboundEmail(
        subject="Anfrage", text="Bitte rufen Sie mich zurück wegen einer Wärmepumpe. Gemeinde Waldbrunn"
    )
    stub.script(
        ScriptedReply(
            values={"email": "invented@example-lead.de", "phone": "+49 30 1234567", "company": "Gemeinde Waldbrunn"}
        )
    )

    lead = parse_email(mail, settings=settings, extractor=extractor)

    assert lead.value("email") is None and lead.value("phone") is None
    assert lead.value("company") == "Gemeinde Waldbrunn"
    assert lead.needs_review
    assert any("invented@example-lead.de" in reason and "dropped" in reason for reason in lead.reasons)


def test_server_errors_keep_rules_and_need_review(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor
) -> None:
    stub, settings = openai_stub
    stub.script(ScriptedReply(status=500), ScriptedReply(status=500))

    lead = parse_email(MUNICIPALITY_MAIL, settings=settings, extractor=extractor)

    assert lead.needs_review
    assert any("LLM extraction failed" in reason for reason in lead.reasons)
    assert lead.value("contact_name") == "Heike Brandt" and lead.fields["contact_name"].provenance == "rule"


def test_connection_refused_needs_review_without_raising() -> None:
    settings = llm_settings(f"http://127.0.0.1:{free_port()}/v1")
    extractor = OpenAIExtractor(settings, max_retries=0)
    try:
        lead = parse_email(MUNICIPALITY_MAIL, settings=settings, extractor=extractor)
    finally:
        extractor.close()

    assert lead.needs_review
    assert any("APIConnectionError" in reason for reason in lead.reasons)
    assert lead.value("email") == "h.brandt@waldbrunn-westerwald.de"


def test_parse_email_builds_its_extractor_from_settings(openai_stub: tuple[OpenAIStub, Settings]) -> None:
    stub, settings = openai_stub
    stub.script(ScriptedReply(values={"company": "Gemeinde Waldbrunn"}))

    lead = parse_email(MUNICIPALITY_MAIL, settings=settings)

    assert lead.fields["company"].provenance == "llm"
    assert stub.requests[0]["model"] == settings.llm_model


def test_llm_is_not_asked_when_rules_found_the_core_fields(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor
) -> None:
    stub, settings = openai_stub
    inbound = email_input_from_mime((FIXTURES / "tt_plain_standard.eml").read_bytes())

    lead = parse_email(inbound, settings=settings, extractor=extractor)

    assert stub.requests == []
    assert all(value.provenance == "rule" for value in lead.fields.values())


def test_llm_cannot_hand_in_the_operators_address(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor
) -> None:
    stub, settings = openai_stub
    mail = InboundEmail(
        subject="Anfrage", text="Bitte Angebot an vertrieb@mustersolar.de weiterleiten. Gemeinde Waldbrunn"
    )
    stub.script(ScriptedReply(values={"email": "vertrieb@mustersolar.de"}))

    lead = parse_email(mail, settings=settings, extractor=extractor)

    assert lead.value("email") is None


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("", "empty"),  # nothing at all
        ("{", "not valid JSON"),  # truncated
        ('["company"]', "JSON object"),  # wrong top-level type
        ('{"company": "A"}', "missing"),  # a required key left out
        ('{"company": "A", "city": "B", "extra": 1}', "unknown"),  # a key not asked for
        ('{"company": 1, "city": null}', "string or null"),  # wrong value type
    ],
)
def test_validate_reply_says_what_is_wrong(content: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        validate_reply(content, ["company", "city"])


def test_grounding_accepts_reformatted_phone_and_near_company() -> None:
    source = "Schmidt GmbH & Co KG, Tel. 030 / 98 76 54"
    kept, reasons = ground_values({"phone": "+49 30 987654", "company": "Schmidt GmbH & Co. KG"}, source, region="DE")
    assert kept == {"phone": "+49 30 987654", "company": "Schmidt GmbH & Co. KG"} and reasons == []


# An English form with a number that is valid in Germany and in Britain alike, and nothing to say which.
AMBIGUOUS_PHONE_MAIL = InboundEmail(
    subject="Quote",
    sender="WordPress <wordpress@mustersolar.de>",
    text="Name: Tom Baker\nEmail: tom@gmail.com\nPhone: 020 8408 1740\n"
    "Message: Hello, we would like a quote for the roof of our warehouse, please.",
)


@pytest.mark.parametrize(
    ("reply", "phone", "review"),
    [
        ("+49 208 4081740", "+492084081740", False),  # the second reader commits to Germany: the doubt is gone
        ("+44 20 8408 1740", "+492084081740", True),  # it reads Britain: the rule's value stays, with both readings
    ],
)
def test_a_doubtful_key_field_is_read_again_by_the_llm(
    openai_stub: tuple[OpenAIStub, Settings], extractor: OpenAIExtractor, reply: str, phone: str, review: bool
) -> None:
    stub, settings = openai_stub
    stub.script(ScriptedReply(values={"phone": reply}))

    lead = parse_email(AMBIGUOUS_PHONE_MAIL, settings=settings, extractor=extractor)

    assert "phone" in stub.requested_fields()
    assert lead.value("phone") == phone and lead.fields["phone"].provenance == "rule"
    assert lead.needs_review is review, lead.reasons
    assert any("+442084081740" in reason for reason in lead.reasons) is review
