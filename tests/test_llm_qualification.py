"""The LLM's opinion as one more score component, through the real openai client against a loopback
OpenAI-compatible server: merged and clamped when sound, left out (and said so) when it is nonsense."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.qualification.llm_opinion import OpenAIQualifier, check_opinion, opinion_of
from lead_engine.core.qualification.rules import load_rules
from lead_engine.core.settings import Settings
from tests.support.openai_server import OpenAIStub, ScriptedReply, serve_openai

REQUEST = (
    "Sie haben eine neue Anfrage erhalten.\n\nFirma: Brandl Logistik GmbH\nAnsprechpartner: Josef Brandl\n"
    "E-Mail: j.brandl@brandl-logistik.de\nTelefon: 089 1234567\nNachricht: Wir brauchen dringend ein Angebot "
    "für 3 Gabelstapler.\n\nIhr tradingtwins Team"
)


def opinion(**overrides: Any) -> str:
    reply = {
        "qualified": True, "score": 90, "reasons": ["needs three forklifts urgently"], "urgency": "high",
        "intent": "quote", "budget": None,
    }  # fmt: skip
    return json.dumps({**reply, **overrides})


@pytest.fixture
def openai_stub() -> Iterator[tuple[OpenAIStub, str]]:
    with serve_openai() as running:
        yield running


def with_llm(settings: Settings, base_url: str) -> Settings:
    return settings.model_copy(
        update={"openai_base_url": base_url, "openai_api_key": SecretStr("test-key"), "llm_timeout": 5.0}
    )


def test_a_sound_opinion_is_one_more_component(
    client: httpx.Client, engine: Engine, settings: Settings, openai_stub: tuple[OpenAIStub, str]
) -> None:
    stub, base_url = openai_stub
    stub.script(ScriptedReply(content=opinion()))
    lead_id = client.post(
        "/api/ingest", json={"subject": "Neue Anfrage", "sender": "noreply@tradingtwins.com", "raw_body": REQUEST}
    ).json()["lead_id"]
    run_due_jobs(engine, with_llm(settings, base_url))

    lead = client.get(f"/api/leads/{lead_id}").json()
    [llm] = [item for item in lead["score_components"] if item["component"] == "llm"]
    assert llm["points"] == 8  # 90/100 → +8 of at most ±10
    assert llm["reason"] == "the LLM rates it 90/100 (high urgency, asks for quote): needs three forklifts urgently"
    assert sum(item["points"] for item in lead["score_components"]) == lead["score"] <= 100
    [request] = stub.requests  # all core fields were read by the rules: no extraction call, only the opinion
    assert request["response_format"]["json_schema"]["name"] == "lead_opinion"
    assert "dringend ein Angebot" in request["messages"][1]["content"]

    # A correction scores the lead again and keeps the LLM's opinion of the (unchanged) mail.
    patched = client.patch(f"/api/leads/{lead_id}", json={"version": lead["version"], "city": "München"}).json()
    assert llm in patched["score_components"]


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        # a score off the scale, twice
        ([opinion(score=500), opinion(score=500)], "score must be a whole number from 0 to 100"),
        # no reasons: an opinion is never taken without them
        ([opinion(reasons=[]), opinion(reasons=[" "])], "reasons must be a list of non-empty strings"),
        # qualified and the score disagree
        ([opinion(qualified=False), opinion(qualified=False)], "qualified must be true exactly when"),
        # prose instead of JSON
        (["Sure! This lead looks great.", "It is a great lead."], "not valid JSON"),
        # an extra key
        ([opinion(mood="happy"), opinion(mood="happy")], "exactly the keys"),
    ],
)
def test_nonsense_is_asked_again_once_then_left_out(
    openai_stub: tuple[OpenAIStub, str], replies: list[str], reason: str
) -> None:
    stub, base_url = openai_stub
    stub.script(*(ScriptedReply(content=reply) for reply in replies))
    settings = with_llm(Settings(_env_file=None), base_url)  # type: ignore[call-arg]
    found = opinion_of(OpenAIQualifier(settings), subject="Anfrage", text=REQUEST, rules=load_rules())
    assert found.points == 0 and found.component == "llm"
    assert found.reason.startswith("no LLM opinion (LLM reply invalid after a re-ask: ") and reason in found.reason
    assert len(stub.requests) == 2
    assert "Your reply was invalid" in stub.requests[1]["messages"][-1]["content"]


def test_an_unreachable_llm_leaves_the_rules_score(openai_stub: tuple[OpenAIStub, str]) -> None:
    stub, base_url = openai_stub
    stub.script(ScriptedReply(status=500), ScriptedReply(status=500), ScriptedReply(status=500))
    settings = with_llm(Settings(_env_file=None), base_url)  # type: ignore[call-arg]
    found = opinion_of(OpenAIQualifier(settings), subject="Anfrage", text=REQUEST, rules=load_rules())
    assert found.points == 0 and "LLM request failed" in found.reason


@pytest.mark.parametrize(("score", "points"), [(0, -10), (25, -5), (50, 0), (75, 5), (100, 10)])
def test_the_opinion_moves_the_score_at_most_by_the_rules_points(score: int, points: int) -> None:
    class Fixed:
        def judge(self, *, subject: str, text: str) -> Any:
            return check_opinion(opinion(score=score, qualified=score >= 50))

    assert opinion_of(Fixed(), subject="", text="", rules=load_rules()).points == points
