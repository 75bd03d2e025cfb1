"""One e-mail judged from start to end, the way the worker does it: parsed, checked for junk, scored."""

from __future__ import annotations

from dataclasses import dataclass

from lead_engine.core.lead_fields import CANONICAL_FIELDS, InboundEmail, ParsedLead
from lead_engine.core.parsing.parser import parse_email
from lead_engine.core.qualification.junk import detect_junk
from lead_engine.core.qualification.rules import Rules
from lead_engine.core.qualification.scoring import LeadFacts, Verdict, score_lead
from lead_engine.core.settings import Settings


@dataclass
class Assessment:
    """The parse, the junk verdict (None when it may be an enquiry) and the score."""

    parsed: ParsedLead
    junk: str | None
    verdict: Verdict

    @property
    def outcome(self) -> str:
        """ "junk", or the grade."""
        return "junk" if self.junk else self.verdict.grade.value


def assess_email(email: InboundEmail, *, settings: Settings, rules: Rules) -> Assessment:
    """Parse a new e-mail, tell whether it is junk, and score what was read."""
    parsed = parse_email(email, settings=settings)
    junk = detect_junk(email, parsed, template=parsed.template, rules=rules.junk)
    facts = LeadFacts(
        values={name: parsed.value(name) for name in CANONICAL_FIELDS},
        subject=email.subject,
        template=parsed.template,
        source=email.source,
        excluded_domains=tuple(settings.own_domains),
    )
    return Assessment(parsed, junk, score_lead(facts, rules))
