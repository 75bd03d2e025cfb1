"""The qualification rules: one TOML file the operator edits, validated with readable errors, reloaded on change."""

from __future__ import annotations

import logging
import re
import tomllib
from functools import cached_property
from pathlib import Path
from threading import Lock

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lead_engine.core.errors import LeadEngineError

logger = logging.getLogger(__name__)

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.toml")


class RulesError(LeadEngineError):
    """A rules file that cannot be read or breaks a rule; the message names the file and each problem."""


class _Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored rule.
    model_config = ConfigDict(extra="forbid", frozen=True)


def words_pattern(words: list[str]) -> re.Pattern[str] | None:
    """One pattern matching any of the phrases as whole words; a trailing * matches any ending."""
    parts = []
    for word in sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True):
        stem = re.escape(word.rstrip("*")).replace(r"\ ", r"\s+")
        parts.append(stem + (r"\w*" if word.endswith("*") else ""))
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE) if parts else None


class Signal(_Strict):
    """Points for a request that uses any of the words, with the reason shown to the team."""

    points: int = Field(ge=-100, le=100)
    reason: str = Field(min_length=1)
    words: list[str] = Field(min_length=1)

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """The compiled words."""
        return words_pattern(self.words)

    def found(self, text: str) -> str | None:
        """The first of the words in the text, as written there, or None."""
        match = self.pattern.search(text) if self.pattern else None
        return match.group(0) if match else None


class Thresholds(_Strict):
    qualified: int = Field(ge=0, le=100)
    hot: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.hot < self.qualified:
            raise ValueError(f"hot ({self.hot}) must be at least qualified ({self.qualified})")
        return self


class Fit(_Strict):
    max: int = Field(ge=0, le=100)
    business_domain: int
    free_mail: int
    company_named: int
    icp_countries: list[str]
    icp_country: int
    other_country: int
    icp_industries: list[str]
    icp_industry: int
    min_employees: int = Field(ge=0)
    company_size: int
    senior_roles: list[str]
    senior_role: int

    @field_validator("icp_countries")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        wrong = [code for code in value if not re.fullmatch(r"[A-Za-z]{2}", code)]
        if wrong:
            raise ValueError(f"use two-letter country codes (DE, AT, CH), not {', '.join(wrong)}")
        return [code.upper() for code in value]

    @cached_property
    def industries(self) -> re.Pattern[str] | None:
        """The ideal customer profile's industries as one pattern."""
        return words_pattern(self.icp_industries)

    @cached_property
    def roles(self) -> re.Pattern[str] | None:
        """The senior roles as one pattern."""
        return words_pattern(self.senior_roles)


class Intent(_Strict):
    max: int = Field(ge=0, le=100)
    requests: list[Signal]
    urgency: Signal
    timeline: Signal
    budget_given: int
    large_budget_eur: float = Field(ge=0)
    large_budget: int
    no_message: int
    currency_rates: dict[str, float]

    @field_validator("currency_rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        if "EUR" not in value or any(rate <= 0 for rate in value.values()):
            raise ValueError("give EUR = 1.0 and a positive rate per currency")
        return {code.upper(): rate for code, rate in value.items()}


class SourceWeight(_Strict):
    points: int
    label: str = Field(min_length=1)


class Source(_Strict):
    max: int = Field(ge=0, le=100)
    default: int
    templates: dict[str, SourceWeight] = {}
    sources: dict[str, SourceWeight] = {}


class Reachability(_Strict):
    max: int = Field(ge=0, le=100)
    email: int
    phone: int
    contact_named: int


class Junk(_Strict):
    disposable: bool
    link_farm_links: int = Field(ge=1)
    link_farm_words_per_link: int = Field(ge=0)
    auto_reply_subjects: list[str]
    auto_reply_phrases: list[str]

    @cached_property
    def subjects(self) -> re.Pattern[str] | None:
        """Auto-reply and bounce subjects as one pattern."""
        return words_pattern(self.auto_reply_subjects)

    @cached_property
    def phrases(self) -> re.Pattern[str] | None:
        """Out-of-office and bounce sentences as one pattern."""
        return words_pattern(self.auto_reply_phrases)


class Llm(_Strict):
    points: int = Field(default=10, ge=0, le=50)


class Rules(_Strict):
    """Every weight, list and threshold of qualification."""

    thresholds: Thresholds
    fit: Fit
    intent: Intent
    source: Source
    reachability: Reachability
    junk: Junk
    llm: Llm = Llm()

    @model_validator(mode="after")
    def _maxes_make_100(self) -> Rules:
        total = self.fit.max + self.intent.max + self.source.max + self.reachability.max
        if total != 100:
            raise ValueError(f"the components' max points add up to {total}; they must add up to 100")
        return self


def _readable(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = "unknown setting (misspelt?)" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"  {where}: {message.removeprefix('Value error, ')}")
    return f"rules file {path} is not valid:\n" + "\n".join(problems)


def load_rules(path: Path | str | None = None) -> Rules:
    """The rules in a file (the shipped defaults without one); RulesError with every problem otherwise."""
    path = Path(path) if path else DEFAULT_RULES_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"rules file {path} cannot be read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"rules file {path} is not valid TOML: {exc}") from exc
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_readable(path, exc)) from None


class RulesSource:
    """The rules of one file, read again when the file changes; a broken edit keeps the last good rules."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path else DEFAULT_RULES_FILE
        self._lock = Lock()
        self._stamp = self._stat()
        self._rules = load_rules(self.path)
        self.error: str | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def current(self) -> Rules:
        """The rules as the file says now (a cheap stat per call)."""
        stamp = self._stat()
        if stamp == self._stamp:
            return self._rules
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._rules, self.error = load_rules(self.path), None
                    logger.info("rules reloaded", extra={"action": "rules.reloaded", "path": str(self.path)})
                except RulesError as exc:
                    self.error = str(exc)
                    logger.error("rules file invalid, last good rules kept: %s", exc, extra={"action": "rules.invalid"})
        return self._rules


_SOURCES: dict[str, RulesSource] = {}


def rules_source(path: Path | str | None) -> RulesSource:
    """The process-wide source of one rules file (RulesError at first use when it is broken)."""
    key = str(path or DEFAULT_RULES_FILE)
    if key not in _SOURCES:
        _SOURCES[key] = RulesSource(path)
    return _SOURCES[key]
