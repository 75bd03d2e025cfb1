"""Field accuracy of the rules parser on the fixture e-mails: per family, per field, per confidence band.

Run from the repository root: ``.venv/bin/python -m bench.parse_accuracy [--write-docs] [--show-errors]``.
Each fixture ``NAME.eml`` has its expected lead in ``NAME.json`` (see ``tests/fixtures/emails/README.md``); the
``holdout/`` part is reported on its own. A field is judged on every fixture where it was expected or found:
right when the parsed value equals the expected one (messages compared with whitespace collapsed), wrong when it
differs, missed when not found, spurious when found but not expected. A *silent error* is a wrong, missed or
spurious key field (company, contact name, e-mail, phone) on a lead the parser did not send to review.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import machine_line, write_section
from lead_engine.core.lead_fields import CANONICAL_FIELDS, ParsedLead
from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.parser import REVIEW_BELOW, parse_email
from lead_engine.core.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "emails"
KEY_FIELDS = ("company", "contact_name", "email", "phone")
BANDS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


@dataclass
class Outcome:
    """How one field of one fixture came out."""

    fixture: str
    family: str
    name: str
    verdict: str  # right | wrong | missed | spurious
    expected: str | None
    got: str | None
    confidence: float | None
    review: bool


@dataclass
class Report:
    """Every field outcome of one part of the corpus."""

    outcomes: list[Outcome] = field(default_factory=list)
    fixtures: int = 0

    def accuracy(self, outcomes: list[Outcome] | None = None) -> float:
        """Right fields over all judged fields."""
        judged = self.outcomes if outcomes is None else outcomes
        return sum(o.verdict == "right" for o in judged) / len(judged) if judged else 1.0

    def silent_errors(self) -> list[Outcome]:
        """Key fields wrong, missed or spurious on leads that would not go to review."""
        return [o for o in self.outcomes if o.name in KEY_FIELDS and o.verdict != "right" and not o.review]

    def key_fields(self) -> list[Outcome]:
        """Every judged key field."""
        return [o for o in self.outcomes if o.name in KEY_FIELDS]

    def errors(self) -> list[Outcome]:
        """Every field that is not right."""
        return [o for o in self.outcomes if o.verdict != "right"]


def family_of(path: Path) -> str:
    """The family of a fixture: its name up to the first underscore."""
    return path.stem.split("_", 1)[0]


def operator_settings() -> Settings:
    """The operator of the fixtures: Muster Solar (mustersolar.de) in Germany, rules only."""
    return Settings(_env_file=None, own_domains="mustersolar.de", default_country="DE")  # type: ignore[call-arg]


def _same(name: str, expected: str, got: str) -> bool:
    if name == "message":
        return " ".join(expected.split()) == " ".join(got.split())
    return expected == got


def judge(path: Path, lead: ParsedLead) -> list[Outcome]:
    """The outcome of every field expected or found in one fixture."""
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    outcomes = []
    for name in CANONICAL_FIELDS:
        want, found = expected.get(name), lead.fields.get(name)
        if want is None and found is None:
            continue
        got = found.value if found else None
        if want is None:
            verdict = "spurious"
        elif got is None:
            verdict = "missed"
        else:
            verdict = "right" if _same(name, want, got) else "wrong"
        confidence = found.confidence if found else None
        outcomes.append(Outcome(path.name, family_of(path), name, verdict, want, got, confidence, lead.needs_review))
    return outcomes


def evaluate(paths: list[Path], settings: Settings | None = None) -> Report:
    """Parse each fixture e-mail the way the product does and judge every field."""
    settings = settings or operator_settings()
    report = Report(fixtures=len(paths))
    for path in paths:
        lead = parse_email(email_input_from_mime(path.read_bytes()), settings=settings)
        report.outcomes += judge(path, lead)
    return report


def corpus(part: str) -> list[Path]:
    """The fixture e-mails of one part: "dev" (the development loop) or "holdout"."""
    folder = FIXTURES / "holdout" if part == "holdout" else FIXTURES
    return sorted(folder.glob("*.eml"))


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _table(report: Report, key: str) -> list[str]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in report.outcomes:
        groups[getattr(outcome, key)].append(outcome)
    rows = [f"| {key} | fields | right | accuracy |", "|---|---|---|---|"]
    for name in sorted(groups):
        items = groups[name]
        rows.append(f"| {name} | {len(items)} | {sum(o.verdict == 'right' for o in items)} | "
                    f"{_pct(report.accuracy(items))} |")  # fmt: skip
    return rows


def _bands(report: Report, names: tuple[str, ...] | None = None) -> list[str]:
    rows = ["| confidence | values | right | accuracy |", "|---|---|---|---|"]
    found = [o for o in report.outcomes if o.confidence is not None and (names is None or o.name in names)]
    for low, high in BANDS:
        items = [o for o in found if low <= o.confidence < high]  # type: ignore[operator]
        label = f"{low:.2f}–{min(high, 1.0):.2f}"
        rows.append(f"| {label} | {len(items)} | {sum(o.verdict == 'right' for o in items)} | "
                    f"{_pct(report.accuracy(items)) if items else '–'} |")  # fmt: skip
    return rows


def summary(name: str, report: Report) -> str:
    """One paragraph of headline figures for a part of the corpus."""
    keys, silent = report.key_fields(), report.silent_errors()
    verdicts = Counter(o.verdict for o in report.outcomes)
    return (
        f"**{name}**: {report.fixtures} e-mails, {len(report.outcomes)} fields judged, field accuracy "
        f"**{_pct(report.accuracy())}** ({verdicts['wrong']} wrong, {verdicts['missed']} missed, "
        f"{verdicts['spurious']} spurious); silent errors **{len(silent)} of {len(keys)} key fields "
        f"({_pct(len(silent) / len(keys) if keys else 0)})**."
    )


def main() -> None:
    """Evaluate both parts, print the tables, optionally write the "Parse accuracy" section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-docs", action="store_true", help="replace the section in docs/BENCHMARKS.md")
    parser.add_argument("--show-errors", action="store_true", help="list every field that is not right")
    args = parser.parse_args()
    dev, holdout = evaluate(corpus("dev")), evaluate(corpus("holdout"))
    families = {family_of(path) for path in corpus("dev") + corpus("holdout")}
    lines = [summary("Development part", dev), "", summary("Hold-out part", holdout), ""]
    lines += ["Development part by family:", "", *_table(dev, "family"), ""]
    lines += ["Development part by field:", "", *_table(dev, "name"), ""]
    lines += ["Hold-out part by family:", "", *_table(holdout, "family"), ""]
    both = Report(outcomes=dev.outcomes + holdout.outcomes, fixtures=dev.fixtures + holdout.fixtures)
    lines += [
        "Key fields (company, contact name, e-mail, phone) per confidence band, both parts; the parser "
        f"sends a key field below {REVIEW_BELOW:.2f} to review:",
        "",
        *_bands(both, KEY_FIELDS),
        "",
    ]
    lines += ["All fields per confidence band, both parts:", "", *_bands(both)]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    if args.show_errors:
        for part, report in (("dev", dev), ("holdout", holdout)):
            for o in report.errors():
                print(f"{part} {o.fixture} {o.name} {o.verdict}: want {o.expected!r} got {o.got!r} "
                      f"({o.confidence}, review={o.review})")  # fmt: skip
    if args.write_docs:
        write_section(
            "Parse accuracy",
            f"""Command: `.venv/bin/python -m bench.parse_accuracy --write-docs`. Rules only, no LLM; the operator is
Muster Solar in Germany. {machine_line()}
The corpus is `tests/fixtures/emails/` ({dev.fixtures} e-mails, the development part) and
`tests/fixtures/emails/holdout/` ({holdout.fixtures} e-mails written alongside them and never used to change the
parser), {len(families)} families. A field is judged wherever it was expected or found; a silent error is a
wrong, missed or spurious key field (company, contact name, e-mail, phone) on a lead not sent to review.

{text}""",
        )


if __name__ == "__main__":
    main()
