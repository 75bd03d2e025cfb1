"""How often qualification grades a lead the way a sales team does: the tuned table and the hold-out set.

Run from the repository root: ``.venv/bin/python -m bench.qualification_accuracy [--write-docs] [--show-misses]``.
Each mail goes the worker's way (parse, junk check, score under the shipped rules) and lands in hot, warm, cold
or junk. The tuned set is the table of ``tests/core/test_qualification_table.py`` (the rules were shaped on it,
so it should agree fully); the hold-out set ``tests/fixtures/qualification/holdout.toml`` was graded by hand
from the sales team's point of view and is never tuned against.
"""

from __future__ import annotations

import argparse
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.report import write_section
from lead_engine.core.lead_fields import InboundEmail
from lead_engine.core.qualification.assess import assess_email
from lead_engine.core.qualification.rules import load_rules
from lead_engine.core.settings import Settings
from tests.core.test_qualification_table import CASES

HOLDOUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "qualification" / "holdout.toml"
OUTCOMES = ("hot", "warm", "cold", "junk")
# Two grades apart (hot taken for cold, or the other way) or a lead taken for junk: the errors that cost a sale.
COSTLY = {("hot", "cold"), ("cold", "hot"), ("hot", "junk"), ("warm", "junk"), ("cold", "junk")}


@dataclass(frozen=True)
class Graded:
    """One mail: the grade a person gave and the one the engine gave."""

    name: str
    expected: str
    got: str
    score: int


def grade_all(mails: list[tuple[str, str, InboundEmail]], settings: Settings) -> list[Graded]:
    """Judge each mail as the worker would."""
    rules = load_rules()
    graded = []
    for name, expected, email in mails:
        assessment = assess_email(email, settings=settings, rules=rules)
        graded.append(Graded(name, expected, assessment.outcome, assessment.verdict.score))
    return graded


def tuned_mails() -> list[tuple[str, str, InboundEmail]]:
    """The table the rules were shaped on."""
    mails = []
    for case in CASES:
        sender, subject, body, expected = (str(value) for value in case.values)
        mails.append((str(case.id), expected, InboundEmail(sender=sender, subject=subject, text=body)))
    return mails


def holdout_mails() -> list[tuple[str, str, InboundEmail]]:
    """The hand-graded set nobody tunes against."""
    data = tomllib.loads(HOLDOUT.read_text(encoding="utf-8"))
    return [
        (
            lead["name"],
            lead["grade"],
            InboundEmail(
                sender=lead["sender"], subject=lead["subject"], text=lead["body"], headers=lead.get("headers", {})
            ),
        )
        for lead in data["lead"]
    ]


def summary(graded: list[Graded]) -> tuple[int, int, Counter[tuple[str, str]]]:
    """Agreements, costly errors, and the confusion counts (expected, got)."""
    confusion = Counter((item.expected, item.got) for item in graded)
    agreed = sum(count for (expected, got), count in confusion.items() if expected == got)
    costly = sum(count for pair, count in confusion.items() if pair in COSTLY)
    return agreed, costly, confusion


def table(confusion: Counter[tuple[str, str]]) -> str:
    """A confusion matrix in Markdown: rows as graded by hand, columns as graded by the engine."""
    lines = ["| by hand ↓ / engine → | " + " | ".join(OUTCOMES) + " |", "|---|" + "---|" * len(OUTCOMES)]
    for expected in OUTCOMES:
        lines.append(f"| {expected} | " + " | ".join(str(confusion[(expected, got)]) for got in OUTCOMES) + " |")
    return "\n".join(lines)


def main() -> None:
    """Grade both sets, print the figures, and optionally write the section of docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-docs", action="store_true", help="replace the Qualification accuracy section")
    parser.add_argument("--show-misses", action="store_true", help="list each disagreement")
    args = parser.parse_args()
    tuned_settings = Settings(_env_file=None, own_domains=["example-seller.de"])  # type: ignore[call-arg]
    holdout_settings = Settings(_env_file=None, own_domains=["kessler-intralogistik.de"])  # type: ignore[call-arg]
    results = {
        "tuned": grade_all(tuned_mails(), tuned_settings),
        "hold-out": grade_all(holdout_mails(), holdout_settings),
    }
    body = [
        "Command: `.venv/bin/python -m bench.qualification_accuracy --write-docs`. Each mail is parsed, checked for",
        "junk and scored under the shipped rules, as the worker does, and lands in hot, warm, cold or junk. The",
        "tuned set is the table of `tests/core/test_qualification_table.py` (the rules were shaped on it); the",
        "hold-out set `tests/fixtures/qualification/holdout.toml` was graded by hand from a sales team's point of",
        "view by someone who did not see the rules, and is never tuned against. *Costly* errors are two grades",
        "apart (hot ↔ cold) or a real lead taken for junk.",
        "",
        "| set | mails | same grade as by hand | costly errors |",
        "|---|---|---|---|",
    ]
    for name, graded in results.items():
        agreed, costly, confusion = summary(graded)
        print(f"{name}: {agreed}/{len(graded)} agree ({agreed / len(graded):.0%}), {costly} costly")
        body.append(f"| {name} | {len(graded)} | {agreed} ({agreed / len(graded):.0%}) | {costly} |")
        if args.show_misses:
            for item in graded:
                if item.expected != item.got:
                    print(f"  {item.name}: by hand {item.expected}, engine {item.got} (score {item.score})")
    agreed, costly, confusion = summary(results["hold-out"])
    body += ["", "Hold-out, by hand against the engine:", "", table(confusion)]
    misses = [item for item in results["hold-out"] if item.expected != item.got]
    if misses:
        body += ["", "Hold-out disagreements (left as they are: tuning on them would spoil the set):", ""]
        body += [f"- `{item.name}`: by hand {item.expected}, engine {item.got} (score {item.score})" for item in misses]
    if args.write_docs:
        write_section("Qualification accuracy", "\n".join(body))


if __name__ == "__main__":
    main()
