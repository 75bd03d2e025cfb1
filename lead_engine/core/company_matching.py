"""Recognising one company across leads: its registrable domain, its normalised name, the best name match."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cleanco import basename
from rapidfuzz import fuzz, process

from lead_engine.core.domains import FREE_MAIL_DOMAINS, registrable_domain

# Names that score at least this (0..100, token-sorted ratio of normalised names) are taken as one company.
NAME_MATCH_THRESHOLD = 90.0

FOLDS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "&": " und "})
# German forms cleanco does not know; removed before cleanco strips the common ones (GmbH, AG, KG, Ltd …).
GERMAN_FORMS = re.compile(
    r"\b(?:UG\s*\(haftungsbeschr(?:ä|ae)nkt\)|e\.\s?K(?:fm|fr)?\.|e\.\s?V\.|mbH|gGmbH|PartG(?:\s*mbB)?)(?=\W|$)",
    re.IGNORECASE,
)


def lead_domain(*, website: str | None, email: str | None, excluded: Iterable[str] = ()) -> str | None:
    """The company's domain: the website's, else the e-mail's — never a free-mail or an excluded domain."""
    skip = FREE_MAIL_DOMAINS | {domain.lower() for domain in excluded}
    for candidate in (registrable_domain(website), registrable_domain(email) if email and "@" in email else None):
        if candidate and candidate not in skip:
            return candidate
    return None


def strip_legal_form(name: str) -> str:
    """The company name without its legal form (``Muster GmbH & Co. KG`` → ``Muster``)."""
    without_german = GERMAN_FORMS.sub(" ", name)
    stripped = basename(" ".join(without_german.split()))
    return stripped.strip(" ,.-&()") or name.strip()


def normalise_name(name: str | None) -> str:
    """A comparable form of a company name: legal form stripped, lower case, umlauts folded, no punctuation."""
    if not name:
        return ""
    folded = strip_legal_form(name).casefold().translate(FOLDS)
    ascii_only = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode("ascii")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_only).split())


def best_name_match(
    name: str,
    candidates: Sequence[Mapping[str, Any]],
    *,
    domain: str | None = None,
    threshold: float = NAME_MATCH_THRESHOLD,
) -> Mapping[str, Any] | None:
    """The candidate company whose name matches ``name`` best above the threshold; one with another domain never."""
    wanted = normalise_name(name)
    if not wanted:
        return None
    eligible = [
        candidate
        for candidate in candidates
        if not (domain and candidate.get("domain") and registrable_domain(str(candidate["domain"])) != domain)
    ]
    choices = [normalise_name(str(candidate.get("name") or "")) for candidate in eligible]
    found = process.extractOne(wanted, choices, scorer=fuzz.token_sort_ratio, score_cutoff=threshold)
    return eligible[found[2]] if found else None


def company_key(*, domain: str | None, name: str | None) -> str | None:
    """The Idempotency-Key for creating a company: the same for every lead of that company."""
    if domain:
        return f"company-domain-{domain}"
    normalised = normalise_name(name)
    if not normalised:
        return None
    return f"company-name-{hashlib.sha256(normalised.encode()).hexdigest()[:32]}"
