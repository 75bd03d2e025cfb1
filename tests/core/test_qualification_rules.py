"""The rules file: shipped defaults, readable errors for a broken one, reload on change, the last good rules kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lead_engine.core.qualification.budget import Budget, parse_budget
from lead_engine.core.qualification.rules import DEFAULT_RULES_FILE, RulesError, RulesSource, load_rules
from lead_engine.core.qualification.scoring import LeadFacts, score_lead


def edited(tmp_path: Path, old: str, new: str, name: str = "rules.toml") -> Path:
    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_shipped_rules_load_and_their_maxima_make_100() -> None:
    rules = load_rules()
    assert rules.fit.max + rules.intent.max + rules.source.max + rules.reachability.max == 100
    assert rules.thresholds.qualified < rules.thresholds.hot


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        # a misspelt key is named, not ignored
        ("urgency = {", "urgncy = {", "intent.urgncy: unknown setting (misspelt?)"),
        # country names instead of codes
        ('icp_countries = ["DE", "AT", "CH"]', 'icp_countries = ["Germany"]', "use two-letter country codes"),
        # maxima that no longer add up to 100
        ("[fit]\nmax = 30", "[fit]\nmax = 40", "add up to 110; they must add up to 100"),
        # thresholds the wrong way round
        ("hot = 70", "hot = 40", "hot (40) must be at least qualified (50)"),
        # a weight that is not a number
        ("business_domain = 10", 'business_domain = "ten"', "fit.business_domain"),
        # not TOML at all
        ("[thresholds]", "[thresholds", "is not valid TOML"),
    ],
)
def test_a_broken_rules_file_is_refused_with_every_problem_named(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    path = edited(tmp_path, old, new)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert problem in str(caught.value) and str(path) in str(caught.value)


def test_a_missing_rules_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot be read"):
        load_rules(tmp_path / "nope.toml")


def test_an_edit_is_picked_up_and_a_broken_one_keeps_the_last_good_rules(tmp_path: Path) -> None:
    path = edited(tmp_path, "qualified = 50", "qualified = 50")
    source = RulesSource(path)
    assert source.current().thresholds.qualified == 50
    path.write_text(path.read_text(encoding="utf-8").replace("qualified = 50", "qualified = 60"), encoding="utf-8")
    os.utime(path, ns=(1, 10**18))  # a new mtime even on a coarse clock
    assert source.current().thresholds.qualified == 60 and source.error is None
    path.write_text("[thresholds\n", encoding="utf-8")
    os.utime(path, ns=(1, 2 * 10**18))
    assert source.current().thresholds.qualified == 60
    assert source.error is not None and "not valid TOML" in source.error


def test_a_changed_weight_changes_the_score_and_its_reason(tmp_path: Path) -> None:
    facts = LeadFacts(values={"company": "Acme GmbH", "email": "a@acme.de", "message": "Bitte ein Angebot"})
    before = score_lead(facts, load_rules())
    after = score_lead(facts, load_rules(edited(tmp_path, "business_domain = 10", "business_domain = 2")))
    assert before.score - after.score == 8
    assert (2, "company domain acme.de") in [(item.points, item.reason) for item in after.components]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ca. 25.000 EUR", Budget(25_000, "EUR")),  # German thousands separator
        ("£25k", Budget(25_000, "GBP")),  # symbol first, k for thousands
        ("50,000 USD", Budget(50_000, "USD")),  # English thousands separator
        ("bis 5.000 €", Budget(5_000, "EUR")),  # "up to", symbol after
        ("2,5 Mio. €", Budget(2_500_000, "EUR")),  # German decimal comma with millions
        ("€ 1.500,-", Budget(1_500, "EUR")),  # the German ",-" for whole euros
        ("Budget 10-15k EUR", Budget(15_000, "EUR")),  # a range counts with its top
        ("CHF 8'000", Budget(8_000, "CHF")),  # Swiss apostrophe grouping
        ("25000", Budget(25_000, "EUR")),  # a bare number in a budget field
        ("nach Absprache", None),  # no amount
        ("Lieferung bis 31.12.2026, 500 Stück", None),  # dates and counts are no budget
    ],
)
def test_budgets_are_read_as_people_write_them(text: str, expected: Budget | None) -> None:
    assert parse_budget(text) == expected


def test_score_components_add_up_to_the_score_even_when_capped() -> None:
    facts = LeadFacts(
        values={
            "company": "Brandl Maschinenbau GmbH", "email": "j@brandl.de", "phone": "+4989123456",
            "contact_name": "Josef Brandl", "country": "DE", "employees": "250", "budget": "90.000 EUR",
            "message": "Dringend: Angebot für eine Anlage bis Ende März. Josef Brandl, Geschäftsführer",
        },
        template="tradingtwins",
    )  # fmt: skip
    verdict = score_lead(facts, load_rules())
    assert sum(item.points for item in verdict.components) == verdict.score == 100
    assert any(item.reason == "intent is capped at 35 points" for item in verdict.components)
