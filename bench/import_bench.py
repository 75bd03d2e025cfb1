"""Spreadsheet import speed: 100,000 rows through the import (mapping known) against csv.DictReader + executemany.

Run from the repository root: ``.venv/bin/python -m bench.import_bench [--rows 100000] [--rounds 3] [--write-docs]``.
Both write to a new SQLite file in each round, interleaved. Ours runs what the worker runs for a queued import:
read the file, map, normalise (E.164, addresses, names), deduplicate by e-mail, score, route, and write each
batch of leads with their stored rows, events and per-row outcomes in one transaction; the baseline only puts
the file's rows into a table. Also reports how many hold-out export headers get the right field suggested.
"""

from __future__ import annotations

import argparse
import csv
import io
import sqlite3
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

from sqlmodel import Session

from bench.report import machine_line, write_section
from lead_engine.core.db import create_db_engine, run_migrations
from lead_engine.core.imports.lifecycle import claim_import, create_import, get_import, start_import
from lead_engine.core.imports.mapping import suggest_field
from lead_engine.core.imports.runner import run_import
from lead_engine.core.settings import Settings
from tests.support.spreadsheets import HEADER, csv_bytes, lead_rows

ROOT = Path(__file__).resolve().parents[1]
HOLDOUT = ROOT / "tests" / "fixtures" / "imports" / "holdout_headers.toml"


def baseline(data: bytes, folder: Path) -> float:
    """Seconds to put the rows into a plain table: csv.DictReader, one executemany, one commit."""
    started = time.perf_counter()
    connection = sqlite3.connect(folder / "baseline.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    columns = ", ".join(f'"{name}"' for name in HEADER)
    connection.execute(f"CREATE TABLE rows (id INTEGER PRIMARY KEY, {columns})")
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=";")
    marks = ", ".join("?" for _ in HEADER)
    with connection:
        connection.executemany(f"INSERT INTO rows ({columns}) VALUES ({marks})",
                               ([row[name] for name in HEADER] for row in reader))  # fmt: skip
    connection.close()
    return time.perf_counter() - started


def ours(data: bytes, folder: Path) -> tuple[float, dict[str, int]]:
    """Seconds from upload to the import's end, as the worker runs it; and what the rows became."""
    settings = Settings(_env_file=None, database_url=f"sqlite:///{folder / 'leads.db'}")  # type: ignore[call-arg]
    engine = create_db_engine(settings.database_url)
    run_migrations(engine)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        record = create_import(session=session, settings=settings, filename="messe.csv", data=data, actor="bench")
        start_import(session=session, settings=settings, import_id=record.id, dry_run=False)
        claim_import(session=session, worker="bench", lease_seconds=300)
    run_import(engine, settings, record.id, worker="bench")
    elapsed = time.perf_counter() - started
    with Session(engine) as session:
        finished = get_import(session=session, import_id=record.id)
        assert finished.status == "done", finished.error
        counts = dict(finished.counts)
    engine.dispose()
    return elapsed, counts


def holdout_accuracy() -> tuple[int, int, list[str]]:
    """Headers of the hold-out exports whose suggested field is the expected one, and the misses."""
    right, total, misses = 0, 0, []
    for family, columns in tomllib.loads(HOLDOUT.read_text()).items():
        for header, expected in columns.items():
            total += 1
            found = suggest_field(header)
            right += found == expected
            if found != expected:
                misses.append(f"{family}: “{header}” → {found or '(left out)'}, expected {expected or '(left out)'}")
    return right, total, misses


def main() -> None:
    """Measure, print, and optionally write the "Import" section of docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help="replace the Import section of docs/BENCHMARKS.md")
    args = parser.parse_args()
    data = csv_bytes(HEADER, lead_rows(args.rows))
    plain, full, counts = [], [], {}
    for round_number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
            plain.append(baseline(data, Path(folder)))
            seconds, counts = ours(data, Path(folder))
            full.append(seconds)
        print(f"round {round_number}: baseline {plain[-1]:.2f} s, import {full[-1]:.2f} s")
    base, ours_median = statistics.median(plain), statistics.median(full)
    right, total, misses = holdout_accuracy()
    lines = [
        machine_line(),
        "",
        f"{args.rows:,} rows of a German trade-fair list (CSV, semicolons, 11 columns), mapping known, into a new "
        f"SQLite database; median of {args.rounds} interleaved rounds.",
        "",
        "| | seconds | rows/s | ratio to baseline |",
        "|---|---:|---:|---:|",
        f"| baseline: `csv.DictReader` + one `executemany` into a plain table | {base:.2f} | "
        f"{args.rows / base:,.0f} | 1.00 |",
        f"| the import: normalise, dedup, score, route, leads + stored rows + events + report rows | "
        f"{ours_median:.2f} | {args.rows / ours_median:,.0f} | {ours_median / base:.1f}× the time |",
        "",
        f"What the rows became: {', '.join(f'{value:,} {key}' for key, value in sorted(counts.items()))}.",
        f"All rounds (import): {', '.join(f'{value:.1f} s' for value in full)}.",
        "",
        f"Mapping suggestion on the hold-out headers (exports the lexicon was not developed against: Pipedrive, "
        f"Zoho, Mailchimp, Brevo, Apollo, a trade-fair scanner): {right} of {total} right ({right / total:.0%}). "
        "Misses:",
        "",
        *[f"- {miss}" for miss in misses],
        "",
        "Run: `.venv/bin/python -m bench.import_bench --write-docs`.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write_docs:
        write_section("Import", report)


if __name__ == "__main__":
    main()
