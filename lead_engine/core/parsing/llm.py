"""The LLM seam: an ``Extractor`` protocol, its OpenAI-compatible implementation, and grounding checks."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import openai
import phonenumbers
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema
from rapidfuzz import fuzz

from lead_engine.core.errors import LeadEngineError
from lead_engine.core.outbound import allowed_hosts, host_guard
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

# What each field means, told to the model in the schema itself.
FIELD_DESCRIPTIONS: dict[str, str] = {
    "company": "the lead's company or organisation name, with legal form",
    "contact_name": "full name of the person asking, without salutation or academic title",
    "salutation": "Herr, Frau, Mr, Mrs or Ms when stated",
    "email": "the lead's e-mail address",
    "phone": "the lead's phone number as written",
    "website": "the lead's company website",
    "street": "street and house number of the lead's company",
    "postal_code": "postal code of the lead's company",
    "city": "city of the lead's company",
    "country": "country of the lead's company as ISO 3166-1 alpha-2 code",
    "industry": "the lead's industry",
    "employees": "number of employees or range",
    "budget": "stated budget",
    "message": "what the lead asks for, in their words",
}
# Fields whose values must be found in the source text, exactly or nearly, or they are invented.
_EXACT_GROUNDED = ("email", "phone")
_FUZZY_GROUNDED = ("company", "contact_name", "street", "postal_code", "city", "website")
_MAX_SOURCE_CHARS = 12_000
_MAX_VALUE_CHARS = 2_000
_SYSTEM_PROMPT = (
    "You extract sales-lead data from one inbound business e-mail (German or English). The lead is the person "
    "or company asking for something, never the recipient, a colleague who forwarded the mail, or a lead "
    "platform. Copy values exactly as written in the e-mail; use null when a value is not stated. Never guess."
)


class ExtractionError(LeadEngineError):
    """The LLM could not be reached or gave no usable answer."""


class Extractor(Protocol):
    """Something that reads the named fields out of an e-mail text; raises ExtractionError on failure."""

    def extract(self, *, text: str, subject: str, fields: Sequence[str]) -> dict[str, str]:
        """Values found for the requested fields; fields not found are left out."""
        ...


def build_schema(fields: Sequence[str]) -> dict[str, object]:
    """The strict JSON schema asking for exactly these fields, each a string or null."""
    return {
        "type": "object",
        "properties": {
            name: {"type": ["string", "null"], "description": FIELD_DESCRIPTIONS.get(name, name)} for name in fields
        },
        "required": list(fields),
        "additionalProperties": False,
    }


def validate_reply(content: str | None, fields: Sequence[str]) -> dict[str, str]:
    """Check a reply against the schema; raises ValueError saying what is wrong."""
    if not content:
        raise ValueError("the reply was empty")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(data, dict):
        raise ValueError("the reply must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    missing = sorted(set(fields) - set(data))
    if unknown or missing:
        raise ValueError(f"keys must be exactly {list(fields)}; unknown {unknown}, missing {missing}")
    values: dict[str, str] = {}
    for name, value in data.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string or null, got {type(value).__name__}")
        if value and len(value) > _MAX_VALUE_CHARS:
            raise ValueError(f"{name} is longer than {_MAX_VALUE_CHARS} characters")
        if value and value.strip():
            values[name] = value.strip()
    return values


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _phone_in_source(value: str, source_digits: str, region: str) -> bool:
    try:
        national = str(phonenumbers.parse(value, region).national_number)
    except phonenumbers.NumberParseException:
        national = _digits(value).lstrip("0")
    return len(national) >= 5 and national in source_digits


def ground_values(values: dict[str, str], source: str, *, region: str) -> tuple[dict[str, str], list[str]]:
    """Keep only values the source text supports; say which were dropped and why."""
    kept: dict[str, str] = {}
    reasons: list[str] = []
    lowered = source.lower()
    source_digits = _digits(source)
    for name, value in values.items():
        if name == "email":
            grounded = value.lower() in lowered
        elif name == "phone":
            grounded = _phone_in_source(value, source_digits, region)
        elif name in _FUZZY_GROUNDED:
            probe = re.sub(r"(?i)^https?://(www\.)?", "", value).lower()
            grounded = fuzz.partial_ratio(probe, lowered) >= 90
        else:
            grounded = True
        if grounded:
            kept[name] = value
        else:
            reasons.append(f"LLM {name} '{value}' does not occur in the e-mail and was dropped")
    return kept, reasons


class JsonChat:
    """One OpenAI-compatible chat endpoint answering in strict JSON: ask, check the reply, re-ask once."""

    def __init__(self, settings: Settings, *, client: openai.OpenAI | None = None, max_retries: int = 1) -> None:
        api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
        self._client = client or openai.OpenAI(
            api_key=api_key,
            base_url=settings.openai_base_url or None,
            timeout=settings.llm_timeout,
            max_retries=max_retries,
            # The configured endpoint only, whatever a reply or a redirect names.
            http_client=openai.DefaultHttpxClient(event_hooks={"request": [host_guard(allowed_hosts(settings))]}),
        )
        self._model = settings.llm_model

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def _complete(self, messages: list[ChatCompletionMessageParam], name: str, schema: dict[str, object]) -> str | None:
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": schema},
        }
        try:
            response = self._client.chat.completions.create(
                model=self._model, messages=messages, temperature=0, response_format=response_format
            )
        except openai.OpenAIError as exc:
            raise ExtractionError(f"LLM request failed: {type(exc).__name__}: {exc}") from exc
        if not response.choices:
            raise ExtractionError("LLM returned no choices")
        return response.choices[0].message.content

    def ask(
        self, *, system: str, user: str, name: str, schema: dict[str, object], check: Callable[[str | None], T]
    ) -> T:
        """The checked answer; a reply ``check`` refuses (ValueError) is asked again once with the error."""
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        error = ""
        for attempt in range(2):
            content = self._complete(messages, name, schema)
            try:
                return check(content)
            except ValueError as exc:
                error = str(exc)
                logger.info("LLM reply rejected", extra={"action": "llm.reply_rejected", "attempt": attempt})
                messages += [
                    {"role": "assistant", "content": content or ""},
                    {"role": "user", "content": f"Your reply was invalid: {error}. Answer again, JSON only."},
                ]
        raise ExtractionError(f"LLM reply invalid after a re-ask: {error}")


class OpenAIExtractor:
    """Extraction through any OpenAI-compatible chat completions endpoint with strict JSON schema output."""

    def __init__(self, settings: Settings, *, client: openai.OpenAI | None = None, max_retries: int = 1) -> None:
        self._chat = JsonChat(settings, client=client, max_retries=max_retries)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._chat.close()

    def extract(self, *, text: str, subject: str, fields: Sequence[str]) -> dict[str, str]:
        """Ask for the missing fields; re-ask once with the validation error, then give up."""
        return self._chat.ask(
            system=_SYSTEM_PROMPT,
            user=f"Subject: {subject}\n\n{text[:_MAX_SOURCE_CHARS]}",
            name="lead_fields",
            schema=build_schema(fields),
            check=lambda content: validate_reply(content, fields),
        )
