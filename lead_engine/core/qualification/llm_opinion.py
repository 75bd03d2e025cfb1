"""The LLM's opinion of a lead, as one more score component: strict JSON, checked, clamped, never without reasons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from lead_engine.core.parsing.llm import ExtractionError, JsonChat
from lead_engine.core.qualification.rules import Rules
from lead_engine.core.qualification.scoring import Contribution
from lead_engine.core.settings import Settings

URGENCIES = ("low", "medium", "high")
INTENTS = ("quote", "demo", "price", "information", "other")
MAX_REASONS = 5
MAX_REASON_CHARS = 300
_MAX_SOURCE_CHARS = 8_000
REQUIRED = ("qualified", "score", "reasons", "urgency", "intent", "budget")
SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "qualified": {"type": "boolean", "description": "worth a sales person's call now"},
        "score": {"type": "integer", "description": "0 (no chance) to 100 (buying now); 50 is worth a call"},
        "reasons": {"type": "array", "items": {"type": "string"}, "description": "1 to 5 short reasons"},
        "urgency": {"type": "string", "enum": list(URGENCIES)},
        "intent": {"type": "string", "enum": list(INTENTS)},
        "budget": {"type": ["string", "null"], "description": "the budget as stated, or null"},
    },
    "required": list(REQUIRED),
    "additionalProperties": False,
}
_SYSTEM_PROMPT = (
    "You qualify one inbound B2B sales lead (German or English) for a sales team in Germany, Austria and "
    "Switzerland. Judge how likely and how soon the sender buys, from what the mail says only. Give a score from "
    "0 to 100 (50: worth a call), qualified true exactly when the score is 50 or more, and 1 to 5 short reasons "
    "quoting the mail. Never invent facts."
)


@dataclass(frozen=True)
class Opinion:
    """What the LLM made of a lead."""

    qualified: bool
    score: int
    reasons: list[str]
    urgency: str
    intent: str
    budget: str | None


class Qualifier(Protocol):
    """Something that gives an opinion of a lead; raises ExtractionError when it cannot."""

    def judge(self, *, subject: str, text: str) -> Opinion:
        """The opinion of one lead's mail."""
        ...


def check_opinion(content: str | None) -> Opinion:
    """An opinion from a reply, or ValueError saying what is wrong with it."""
    try:
        data = json.loads(content or "")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or set(data) != set(REQUIRED):
        raise ValueError(f"the reply must be an object with exactly the keys {list(REQUIRED)}")
    score, reasons = data["score"], data["reasons"]
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
        raise ValueError("score must be a whole number from 0 to 100")
    if not isinstance(data["qualified"], bool) or data["qualified"] != (score >= 50):
        raise ValueError("qualified must be true exactly when the score is 50 or more")
    if not isinstance(reasons, list) or not all(isinstance(item, str) and item.strip() for item in reasons):
        raise ValueError("reasons must be a list of non-empty strings")
    if not 1 <= len(reasons) <= MAX_REASONS:
        raise ValueError(f"give 1 to {MAX_REASONS} reasons")
    if data["urgency"] not in URGENCIES or data["intent"] not in INTENTS:
        raise ValueError(f"urgency must be one of {URGENCIES}, intent one of {INTENTS}")
    budget = data["budget"]
    if budget is not None and not isinstance(budget, str):
        raise ValueError("budget must be a string or null")
    reasons = [" ".join(item.split())[:MAX_REASON_CHARS] for item in reasons]
    return Opinion(data["qualified"], score, reasons, data["urgency"], data["intent"], budget)


class OpenAIQualifier:
    """The opinion through the same OpenAI-compatible endpoint the parser uses."""

    def __init__(self, settings: Settings) -> None:
        self._chat = JsonChat(settings)

    def judge(self, *, subject: str, text: str) -> Opinion:
        """Ask once, re-ask once with the error, else ExtractionError."""
        return self._chat.ask(
            system=_SYSTEM_PROMPT,
            user=f"Subject: {subject}\n\n{text[:_MAX_SOURCE_CHARS]}",
            name="lead_opinion",
            schema=SCHEMA,
            check=check_opinion,
        )


def opinion_of(qualifier: Qualifier, *, subject: str, text: str, rules: Rules) -> Contribution:
    """The LLM component: up to ± ``rules.llm.points`` around its score of 50, or 0 points saying why there is none."""
    limit = rules.llm.points
    try:
        opinion = qualifier.judge(subject=subject, text=text)
    except ExtractionError as exc:
        return Contribution("llm", 0, f"no LLM opinion ({str(exc)[:160]})")
    except Exception as exc:  # noqa: BLE001 - any Qualifier may fail; the lead is scored by the rules then
        return Contribution("llm", 0, f"no LLM opinion ({type(exc).__name__})")
    points = max(-limit, min(limit, round((opinion.score - 50) / 50 * limit)))
    summary = f"{opinion.urgency} urgency, asks for {opinion.intent}"
    return Contribution("llm", points, f"the LLM rates it {opinion.score}/100 ({summary}): {opinion.reasons[0]}")
