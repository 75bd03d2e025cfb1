"""The operator inbox's queries at 100,000 leads, against the cheapest page query in the same run.

Run: .venv/bin/python -m bench.inbox_bench [--leads 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.report import machine_line, write_section
from lead_engine.core.db import create_db_engine, read_session, run_migrations
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch
from lead_engine.core.leads import count_by_status, list_leads, list_sources

SOURCES = ("tradingtwins", "website", "typeform", "linkedin", "email")
STATUSES = ("ready", "needs_review", "synced", "dead", "rejected")


def fill(engine: Engine, count: int) -> None:
    """Store ``count`` leads through the real ingest path, then spread them over statuses and companies."""
    for start in range(0, count, 256):
        items = [
            prepare_ingest(
                "application/json",
                json.dumps(
                    {"source": SOURCES[n % 5], "subject": f"Anfrage {n}", "raw_body": f"Firma: Kunde {n} GmbH"}
                ).encode(),
            )
            for n in range(start, min(start + 256, count))
        ]
        write_batch(engine, items)
    with engine.begin() as connection:
        cases = " ".join(f"WHEN {n} THEN '{status}'" for n, status in enumerate(STATUSES))
        connection.execute(
            text(
                f"UPDATE leads SET status = CASE abs(random()) % 5 {cases} END, "
                "company = CASE WHEN rowid % 1000 = 0 THEN 'Müller ' ELSE 'Kunde ' END || rowid || ' GmbH', "
                "score = abs(random()) % 100"
            )
        )
        # The search text as the ORM would keep it (folded company | subject): ASCII apart from "Müller".
        connection.execute(
            text("UPDATE leads SET search_text = replace(lower(company), 'ü', 'u') || ' | ' || lower(subject)")
        )
        connection.execute(text("ANALYZE"))


def median_ms(run: Callable[[], Any], repeat: int = 15) -> float:
    """Median wall time of ``run`` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Fill a SQLite database and time each inbox query; write the section of docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    engine = create_db_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'leads.db'}")
    run_migrations(engine)
    started = time.perf_counter()
    fill(engine, args.leads)
    fill_seconds = time.perf_counter() - started

    def page(**filters: Any) -> Callable[[], Any]:
        def run() -> Any:
            with read_session(engine) as session:
                return list_leads(session=session, limit=50, **filters)

        return run

    def plain(sql: str) -> Callable[[], Any]:
        def run() -> Any:
            with read_session(engine) as session:
                return session.execute(text(sql)).all()

        return run

    def counts() -> Any:
        with read_session(engine) as session:
            return count_by_status(session=session), list_sources(session=session)

    baseline = median_ms(plain("SELECT * FROM leads ORDER BY received_at DESC LIMIT 50"))
    cases = {
        "first page, no filter (page + total)": page(),
        "status = needs_review": page(status="needs_review"),
        "source = website": page(source="website"),
        "min score 80": page(min_score=80),
        "search 'kunde 4711' (newest first)": page(q="kunde 4711"),
        "search 'mueller' (100 hits, best first)": page(q="mueller", order="relevance"),
        "search 'kunde' (every lead matches)": page(q="kunde"),
        "search 'zz' (two letters: no index)": page(q="zz"),
        "reference: LIKE over seven columns": plain(
            "SELECT count(*) FROM leads WHERE "
            + " OR ".join(
                f"lower({name}) LIKE '%kunde 4711%'"
                for name in ("company", "contact_name", "email", "subject", "city", "external_id", "sender")
            )
        ),
        "page 1,000 (offset 49,950)": page(offset=49_950),
        "status counts + source list": counts,
    }
    rows = "\n".join(f"| {name} | {(ms := median_ms(run)):.1f} | {ms / baseline:.1f}× |" for name, run in cases.items())
    body = f"""
Command: `.venv/bin/python -m bench.inbox_bench --leads {args.leads}`. {args.leads:,} leads stored through the
real ingest path ({fill_seconds:.0f} s), spread over five statuses and sources, on SQLite. Each figure is the
median of 15 runs of the core query the Inbox page makes. Baseline: one page of raw SQL
(`SELECT * FROM leads ORDER BY received_at DESC LIMIT 50`), {baseline:.2f} ms. {machine_line()}

| inbox query | ms | × baseline |
|---|---|---|
{rows}

Every page also counts its matches (`total`), so a filter costs a count over its index. Search reads the
FTS5 trigram index of the folded search text and confirms each candidate; a word of fewer than three letters
cannot use the index and scans the search text. A query every lead matches costs a full count and sort. A
deep page (OFFSET walks the index up to the page) and the score filter (no index on the score) grow with the
table; the reference row is the search as it was before the index (`LIKE` over seven columns).
"""
    write_section(f"Inbox at {args.leads:,} leads", body)
    print(body)


if __name__ == "__main__":
    main()
