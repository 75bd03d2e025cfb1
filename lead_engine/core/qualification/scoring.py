"""The score: fit, intent, source and reachability, each a list of contributions with points and a reason.

The contributions of a lead add up to its score exactly; a component over its maximum (or below zero) gets one
more contribution that says so, so the table a person reads always sums to the number they see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import phonenumbers

from lead_engine.core.company_matching import lead_domain
from lead_engine.core.domains import is_free_mail, registrable_domain
from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.models import Lead
from lead_engine.core.parsing.normalise import region_of_domain
from lead_engine.core.qualification.budget import parse_budget
from lead_engine.core.qualification.rules import Rules

COMPONENTS = ("fit", "intent", "source", "reachability")


class Grade(StrEnum):
    """How warm a lead is, by its score against the rules' thresholds."""

    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


@dataclass(frozen=True)
class Contribution:
    """Points one rule gave (or took), with the reason in words."""

    component: str
    points: int
    reason: str


@dataclass(frozen=True)
class LeadFacts:
    """What scoring reads about a lead: its field values, subject, template and ingest source."""

    values: Mapping[str, str | None]
    subject: str = ""
    template: str = "free_text"
    source: str = "email"
    excluded_domains: tuple[str, ...] = ()


@dataclass
class Verdict:
    """The score, whether it qualifies, its grade and the contributions it is made of."""

    score: int
    qualified: bool
    grade: Grade
    threshold: int
    components: list[Contribution] = field(default_factory=list)

    def as_json(self) -> list[dict[str, Any]]:
        """The contributions as stored and shown by the API."""
        # By hand: dataclasses.asdict deep-copies each value and cost more than scoring the lead.
        return [{"component": item.component, "points": item.points, "reason": item.reason} for item in self.components]


def _largest_number(text: str) -> int | None:
    numbers = [int(n) for n in re.findall(r"\d+", text.replace(".", "").replace(",", ""))]
    return max(numbers) if numbers else None


def region_of_phone(phone: str) -> str | None:
    """The country an international number belongs to, as phonenumbers tells it, None when it cannot."""
    digits = phone[1:]
    if digits.isdigit():
        # E.164 as stored: a calling code that only one country has names it without parsing the number
        # (phonenumbers answers the same for such a code, and parsing cost a third of scoring a lead).
        for length in (1, 2, 3):
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length]))
            if regions:
                # phonenumbers takes a national number of 2 to 17 digits; shorter or longer is none.
                if len(regions) == 1 and regions[0] != "001" and 2 <= len(digits) - length <= 17:
                    return regions[0]
                break
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None


def _country(values: Mapping[str, str | None], domain: str | None) -> tuple[str, str]:
    """The lead's country: given, else told by the phone number's prefix or the company domain's ending."""
    if values.get("country"):
        return str(values["country"]).upper(), ""
    phone = values.get("phone") or ""
    if phone.startswith("+") and (region := region_of_phone(phone)):
        return region, " (by the phone number)"
    region = region_of_domain(domain)
    return (region, f" (by the .{domain.rsplit('.', 1)[-1]} domain)") if region and domain else ("", "")


def _fit(facts: LeadFacts, rules: Rules) -> list[Contribution]:
    fit, values, found = rules.fit, facts.values, []
    email, website = values.get("email"), values.get("website")
    domain = lead_domain(website=website, email=email, excluded=facts.excluded_domains)
    if domain:
        found.append(Contribution("fit", fit.business_domain, f"company domain {domain}"))
    elif email and is_free_mail(email) and not website:
        provider = email.rpartition("@")[2]
        found.append(Contribution("fit", fit.free_mail, f"only a free-mail address ({provider}), no company website"))
    if values.get("company"):
        found.append(Contribution("fit", fit.company_named, "company named"))
    country, evidence = _country(values, domain)
    if country in fit.icp_countries:
        found.append(Contribution("fit", fit.icp_country, f"based in {country}{evidence}, a target country"))
    elif country:
        found.append(
            Contribution("fit", fit.other_country, f"based in {country}{evidence}, outside the target countries")
        )
    described = " ".join(filter(None, (values.get("industry"), values.get("company"))))
    if fit.industries and (match := fit.industries.search(described)):
        found.append(Contribution("fit", fit.icp_industry, f"target industry ({match.group(0)})"))
    employees = _largest_number(values.get("employees") or "")
    if employees is not None and employees >= fit.min_employees:
        found.append(Contribution("fit", fit.company_size, f"{values.get('employees')} employees"))
    if fit.roles and (match := fit.roles.search(values.get("message") or "")):
        found.append(Contribution("fit", fit.senior_role, f"written by a decision maker ({match.group(0)})"))
    return found


def _intent(facts: LeadFacts, rules: Rules) -> list[Contribution]:
    intent, values, found = rules.intent, facts.values, []
    message = values.get("message") or ""
    text = f"{facts.subject}\n{message}"
    asked = [(signal, word) for signal in intent.requests if (word := signal.found(text))]
    if asked:
        signal, word = max(asked, key=lambda pair: pair[0].points)
        found.append(Contribution("intent", signal.points, f"{signal.reason} (“{word}”)"))
    for signal in (intent.urgency, intent.timeline):
        if word := signal.found(text):
            found.append(Contribution("intent", signal.points, f"{signal.reason} (“{word}”)"))
    budget = parse_budget(values.get("budget")) or parse_budget(message)
    if budget is not None:
        found.append(Contribution("intent", intent.budget_given, f"budget given: {budget}"))
        in_eur = budget.in_eur(intent.currency_rates)
        if in_eur is not None and in_eur >= intent.large_budget_eur:
            found.append(
                Contribution(
                    "intent",
                    intent.large_budget,
                    f"budget of at least {intent.large_budget_eur:,.0f} EUR".replace(",", " "),
                )
            )
    if not message.strip():
        found.append(Contribution("intent", intent.no_message, "no request text"))
    return found


def _source(facts: LeadFacts, rules: Rules) -> list[Contribution]:
    source = rules.source
    weight = source.sources.get(facts.source) or source.templates.get(facts.template)
    if weight is None:
        return [Contribution("source", source.default, f"came in as {facts.template.replace('_', ' ')}")]
    return [Contribution("source", weight.points, weight.label)]


def _reachability(facts: LeadFacts, rules: Rules) -> list[Contribution]:
    reach, values, found = rules.reachability, facts.values, []
    email = values.get("email")
    if email and registrable_domain(email):
        found.append(Contribution("reachability", reach.email, "e-mail address given"))
    elif email:
        found.append(Contribution("reachability", 0, f"the e-mail domain of {email} does not exist"))
    if values.get("phone"):
        found.append(Contribution("reachability", reach.phone, "phone number given"))
    if values.get("contact_name"):
        found.append(Contribution("reachability", reach.contact_named, "contact person named"))
    return found


def _capped(component: str, limit: int, found: list[Contribution]) -> list[Contribution]:
    total = sum(item.points for item in found)
    if total > limit:
        return [*found, Contribution(component, limit - total, f"{component} is capped at {limit} points")]
    if total < 0:
        return [*found, Contribution(component, -total, f"{component} cannot go below 0 points")]
    return found


def grade_of(score: int, rules: Rules) -> Grade:
    """Hot, warm or cold by the rules' thresholds."""
    if score >= rules.thresholds.hot:
        return Grade.HOT
    return Grade.WARM if score >= rules.thresholds.qualified else Grade.COLD


def score_lead(facts: LeadFacts, rules: Rules, *, extra: list[Contribution] | None = None) -> Verdict:
    """Score a lead's current values; ``extra`` holds a further component (the LLM's), already capped."""
    limits = {"fit": rules.fit.max, "intent": rules.intent.max, "source": rules.source.max}
    limits["reachability"] = rules.reachability.max
    parts = {"fit": _fit, "intent": _intent, "source": _source, "reachability": _reachability}
    components = [item for name, part in parts.items() for item in _capped(name, limits[name], part(facts, rules))]
    components += extra or []
    score = sum(item.points for item in components)
    if score > 100 or score < 0:
        bound = 100 if score > 100 else 0
        components.append(Contribution("total", bound - score, "the score stays between 0 and 100"))
        score = bound
    threshold = rules.thresholds.qualified
    return Verdict(score, score >= threshold, grade_of(score, rules), threshold, components)


def lead_values(lead: Lead) -> dict[str, str | None]:
    """The lead's canonical field values as they stand now (corrections included)."""
    return {name: getattr(lead, name) for name in CANONICAL_FIELDS}


def facts_of(lead: Lead, *, excluded_domains: list[str] | tuple[str, ...] = ()) -> LeadFacts:
    """What scoring reads of a stored lead, as it stands now (corrections included)."""
    return LeadFacts(
        values=lead_values(lead),
        subject=lead.subject or "",
        template=lead.template or "free_text",
        source=lead.source,
        excluded_domains=tuple(excluded_domains),
    )


def kept_opinion(lead: Lead) -> list[Contribution]:
    """The LLM's component as stored: scoring again from the lead's values keeps it (the mail has not changed)."""
    return [Contribution(**item) for item in lead.score_components if item.get("component") == "llm"]


def score_stored_lead(
    lead: Lead, rules: Rules, *, excluded_domains: list[str], opinion: list[Contribution] | None = None
) -> Verdict:
    """Score a stored lead's current values; the LLM's ``opinion`` of its mail, else the one stored, counts too."""
    facts = facts_of(lead, excluded_domains=excluded_domains)
    return score_lead(facts, rules, extra=opinion or kept_opinion(lead))


def apply_verdict(lead: Lead, verdict: Verdict) -> None:
    """Store the score, its grade and its components on the lead."""
    lead.score, lead.qualified, lead.grade = verdict.score, verdict.qualified, verdict.grade.value
    lead.score_components = verdict.as_json()
