"""Reading and scoring batches of rows: inline for small files, on a second core for big ones.

A big import spends about half its time turning cells into normalised, scored leads and half writing them;
a second process reads the next batch while this one writes the last, so both cores work.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from lead_engine.core.imports.rows import IMPORT_TEMPLATE, RowReading, read_row
from lead_engine.core.lead_fields import CANONICAL_FIELDS, FieldValue, ParsedLead
from lead_engine.core.qualification.rules import Rules, rules_source
from lead_engine.core.qualification.scoring import Contribution, Grade, LeadFacts, Verdict, score_lead

# Below this many rows a second process costs more to start than it saves.
SECOND_CORE_ROWS = 5_000
PARENT_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class ReadRow:
    """A row as a lead, and its score (None for a row that cannot become one)."""

    reading: RowReading
    verdict: Verdict | None


def score_parsed(parsed: ParsedLead, rules: Rules, *, excluded: tuple[str, ...]) -> Verdict:
    """The score of a lead made from a row, as its stored lead will have it."""
    values = {name: parsed.value(name) for name in CANONICAL_FIELDS}
    facts = LeadFacts(values=values, subject="", template=IMPORT_TEMPLATE, source="import", excluded_domains=excluded)
    return score_lead(facts, rules)


def read_batch(
    values: list[dict[str, str]], *, country: str, rules_file: str | None, excluded: tuple[str, ...]
) -> list[ReadRow]:
    """Each row's lead and score (the rules of ``rules_file``, as this process last read them)."""
    rules = rules_source(rules_file).current()
    read = []
    for row in values:
        reading = read_row(row, country=country, disposable=rules.junk.disposable)
        verdict = None if reading.rejected else score_parsed(reading.parsed, rules, excluded=excluded)
        read.append(ReadRow(reading, verdict))
    return read


# Between the processes a batch travels as plain tuples: pickling the dataclasses took longer than reading
# the rows.
Packed = tuple[Any, ...]


def _pack(item: ReadRow) -> Packed:
    parsed, verdict = item.reading.parsed, item.verdict
    fields = tuple((name, found.value, found.confidence) for name, found in parsed.fields.items())
    scored = None
    if verdict is not None:
        parts = tuple((part.component, part.points, part.reason) for part in verdict.components)
        scored = (verdict.score, verdict.qualified, verdict.grade.value, verdict.threshold, parts)
    return item.reading.rejected, parsed.needs_review, tuple(parsed.reasons), fields, scored


def _unpack(packed: Packed) -> ReadRow:
    rejected, needs_review, reasons, fields, scored = packed
    parsed = ParsedLead(
        fields={name: FieldValue(value, "import", confidence) for name, value, confidence in fields},
        needs_review=needs_review, reasons=list(reasons), template=IMPORT_TEMPLATE,
    )  # fmt: skip
    verdict = None
    if scored is not None:
        score, qualified, grade, threshold, parts = scored
        verdict = Verdict(score, qualified, Grade(grade), threshold, [Contribution(*part) for part in parts])
    return ReadRow(RowReading(parsed, rejected), verdict)


def read_packed(
    values: list[dict[str, str]], *, country: str, rules_file: str | None, excluded: tuple[str, ...]
) -> list[Packed]:
    """``read_batch`` in the second process, its answer packed for the way back."""
    return [_pack(item) for item in read_batch(values, country=country, rules_file=rules_file, excluded=excluded)]


class PendingBatch:
    """A batch being read: its rows once ``result`` is asked for."""

    def __init__(self, future: Future[list[Packed]] | None = None, read: list[ReadRow] | None = None) -> None:
        self.future, self.read = future, read

    def result(self) -> list[ReadRow]:
        """The batch's rows, waiting for the second process when it reads them."""
        if self.read is None:
            assert self.future is not None
            self.read = [_unpack(packed) for packed in self.future.result()]
        return self.read


def _end_with_parent(parent: int) -> None:
    """In the second process: end as soon as the process it reads for is gone (killed, say), not linger idle."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class RowReader:
    """Hands batches to ``read_batch``: in a second process when the file is big and a second core exists."""

    def __init__(self, *, rows: int, country: str, rules_file: str | None, excluded: tuple[str, ...]) -> None:
        self.country, self.rules_file, self.excluded = country, rules_file, excluded
        self.pool: ProcessPoolExecutor | None = None
        if rows >= SECOND_CORE_ROWS and (os.cpu_count() or 1) > 1:
            # Spawned, not forked: the worker that runs imports has threads (and their locks) of its own.
            self.pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_end_with_parent,
                initargs=(os.getpid(),),
            )  # fmt: skip

    def submit(self, values: list[dict[str, str]]) -> PendingBatch:
        """The batch's rows read and scored, now or soon."""
        country, rules_file, excluded = self.country, self.rules_file, self.excluded
        if self.pool is not None:
            future = self.pool.submit(read_packed, values, country=country, rules_file=rules_file, excluded=excluded)
            return PendingBatch(future)
        return PendingBatch(read=read_batch(values, country=country, rules_file=rules_file, excluded=excluded))

    def close(self) -> None:
        """Stop the second process, if there is one."""
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
