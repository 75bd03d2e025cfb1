"""Scoring a parsed lead and deciding whether it is qualified for sync or needs a human."""

from __future__ import annotations

from dataclasses import dataclass, field

from lead_engine.core.domains import is_free_mail
from lead_engine.core.lead_fields import ParsedLead

WEIGHTS: dict[str, int] = {
    "company": 25,
    "email": 20,
    "phone": 15,
    "contact_name": 10,
    "message": 10,
    "city": 5,
    "postal_code": 5,
    "website": 5,
    "street": 5,
}


@dataclass
class Score:
    """A score from 0 to 100, the verdict, and the reasons a person can read."""

    score: int
    qualified: bool
    reasons: list[str] = field(default_factory=list)


def score_lead(values: dict[str, str | None], *, parsed: ParsedLead | None, threshold: int) -> Score:
    """Score the current field values; qualified needs the threshold, a company and a way to reach them."""
    reasons = list(parsed.reasons) if parsed else []
    total = sum(weight for name, weight in WEIGHTS.items() if values.get(name))
    if is_free_mail(values.get("email")) and not values.get("website"):
        total -= 10
        reasons.append("free-mail address and no website: company domain unknown")
    total = max(0, min(100, total))
    if not values.get("company"):
        reasons.append("no company found")
    if not (values.get("email") or values.get("phone")):
        reasons.append("no e-mail address or phone number found")
    if total < threshold:
        reasons.append(f"score {total} below threshold {threshold}")
    qualified = (
        total >= threshold
        and bool(values.get("company"))
        and bool(values.get("email") or values.get("phone"))
        and not (parsed and parsed.needs_review)
    )
    return Score(score=total, qualified=qualified, reasons=list(dict.fromkeys(reasons)))
