"""Which lead a spreadsheet row is a repeat of (by e-mail, company domain or external id), and merging into it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from lead_engine.core.company_matching import lead_domain
from lead_engine.core.lead_fields import CANONICAL_FIELDS, ParsedLead
from lead_engine.core.models import ImportRow, Lead


class DedupKey(StrEnum):
    """What makes two rows, or a row and a lead, the same lead."""

    EMAIL = "email"
    DOMAIN = "domain"
    EXTERNAL_ID = "external_id"
    NONE = "none"


class OnMatch(StrEnum):
    """What a row that matches a lead does: nothing, fill the lead's empty fields, or overwrite its values."""

    SKIP = "skip"
    FILL = "fill"
    OVERWRITE = "overwrite"


class Outcome(StrEnum):
    """What became of a row."""

    NEW = "new"
    MERGED = "merged"
    SKIPPED = "skipped"
    REJECTED = "rejected"


def key_of(dedup: DedupKey, values: dict[str, str | None], *, excluded: Iterable[str]) -> str | None:
    """The row's (or lead's) key under ``dedup``; None when it has none (it can match nothing)."""
    if dedup == DedupKey.EMAIL:
        return (values.get("email") or "").lower() or None
    if dedup == DedupKey.DOMAIN:
        return lead_domain(website=values.get("website"), email=values.get("email"), excluded=excluded)
    if dedup == DedupKey.EXTERNAL_ID:
        return (values.get("external_id") or "").strip().casefold() or None
    return None


@dataclass
class Draft:
    """A lead a row of this import makes, not written yet."""

    lead_id: str
    row: int
    parsed: ParsedLead
    # A later row of the file merged into it: its score is taken again.
    merged: bool = False


@dataclass
class Target:
    """The lead a key belongs to: stored (``draft`` None), or one this import has not written yet."""

    lead_id: str
    row: int | None = None
    draft: Draft | None = None


@dataclass
class DedupIndex:
    """Every key seen so far, in the database and in this file, and the lead it belongs to (the oldest)."""

    dedup: DedupKey
    excluded: tuple[str, ...]
    targets: dict[str, Target] = field(default_factory=dict)

    @classmethod
    def load(cls, *, session: Session, dedup: DedupKey, excluded: Iterable[str], import_id: str) -> DedupIndex:
        """The keys of every stored lead; leads this import already made know their row."""
        index = cls(dedup, tuple(excluded))
        if dedup == DedupKey.NONE:
            return index
        columns = {DedupKey.EMAIL: ("email",), DedupKey.DOMAIN: ("email", "website")}.get(dedup, ("external_id",))
        query = select(col(Lead.id), *(getattr(Lead, name) for name in columns)).order_by(col(Lead.received_at))
        for lead_id, *values in session.execute(query):
            key = key_of(dedup, dict(zip(columns, values, strict=True)), excluded=index.excluded)
            if key is not None and key not in index.targets:
                index.targets[key] = Target(lead_id)
        made = select(col(ImportRow.lead_id), col(ImportRow.row)).where(
            col(ImportRow.import_id) == import_id, col(ImportRow.outcome) == Outcome.NEW
        )
        rows: dict[str, int] = {lead_id: row for lead_id, row in session.execute(made)}
        for target in index.targets.values():
            target.row = rows.get(target.lead_id)
        return index

    def key(self, parsed: ParsedLead) -> str | None:
        """The key of a row's lead."""
        return key_of(self.dedup, {name: parsed.value(name) for name in ("email", "website", "external_id")},
                      excluded=self.excluded)  # fmt: skip


def merge_changes(
    current: dict[str, Any], meta: dict[str, dict[str, Any]], incoming: ParsedLead, on_match: OnMatch
) -> tuple[dict[str, tuple[Any, str]], list[str]]:
    """The fields a matching row changes (old, new) and those it leaves because a person set them."""
    changes: dict[str, tuple[Any, str]] = {}
    kept: list[str] = []
    if on_match == OnMatch.SKIP:
        return changes, kept
    for name in CANONICAL_FIELDS:
        found = incoming.fields.get(name)
        if found is None or found.value == current.get(name):
            continue
        if current.get(name) in (None, ""):
            changes[name] = (current.get(name), found.value)
        elif on_match == OnMatch.OVERWRITE:
            if meta.get(name, {}).get("provenance") == "operator":
                kept.append(name)
            else:
                changes[name] = (current.get(name), found.value)
    return changes, kept
