"""Sync throughput: worker processes drain a backlog of ready leads into the Company Explorer stand-in.

Run from the repository root: ``.venv/bin/python -m bench.sync_bench --leads 5000 --write-docs``.
The stand-in runs in its own process with ``--latency`` added to every answer; each new lead costs five calls
(domain search, name search, create company, add contact, start discovery), so the ideal rate of W workers with
C threads each is ``W * C / (5 * latency)`` leads per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from lead_engine.core.db import create_db_engine, run_migrations
from lead_engine.core.models import Job, Lead, RawMessage, new_id, utcnow
from tests.support.company_explorer_server import TOKEN
from tests.support.servers import engine_env, free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
CALLS_PER_LEAD = 5
DOCS = ROOT / "docs" / "BENCHMARKS.md"


def add_backlog(database_url: str, count: int) -> None:
    """Insert ``count`` ready leads of distinct companies, each with its sync job queued."""
    engine = create_db_engine(database_url)
    run_migrations(engine)
    now = utcnow()
    raws, leads, jobs = [], [], []
    for n in range(count):
        raw_id, lead_id = new_id(), new_id()
        raws.append(
            {"id": raw_id, "received_at": now, "content_type": "application/json", "body": b"{}", "request_headers": {}}
        )
        leads.append(
            {
                "id": lead_id, "raw_message_id": raw_id, "status": "ready", "source": "bench", "received_at": now,
                "updated_at": now, "company": f"Firma{n:06d} GmbH", "contact_name": f"Person {n}",
                "email": f"kontakt@firma{n:06d}.de", "city": "Berlin", "country": "DE", "score": 80,
                "qualified": True, "reasons": [], "fields": {}, "version": 1,
            }
        )  # fmt: skip
        jobs.append(
            {
                "lead_id": lead_id, "kind": "sync", "status": "queued", "attempts": 0, "max_attempts": 8,
                "run_after": now, "idempotency_key": f"lead-{lead_id}", "payload": {}, "created_at": now,
                "updated_at": now,
            }
        )  # fmt: skip
    with engine.begin() as connection:
        for table, rows in ((RawMessage, raws), (Lead, leads), (Job, jobs)):
            for start in range(0, len(rows), 1000):
                connection.execute(insert(table), rows[start : start + 1000])
    engine.dispose()


def count_synced(database_url: str) -> int:
    """How many leads are synced now."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        synced = connection.scalar(select(func.count()).select_from(Lead).where(Lead.status == "synced")) or 0
    engine.dispose()
    return synced


def fresh_postgres(admin_url: str) -> str:
    """A new, empty PostgreSQL database for this run."""
    name = f"lead_engine_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres(admin_url: str, url: str) -> None:
    """Drop the run's database."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def drain(args: argparse.Namespace, database_url: str, explorer_url: str, workdir: Path) -> dict[str, float]:
    """Start the workers on the backlog and time it: total drain time and the steady rate (10 % → 90 %)."""
    env = {
        "LEAD_ENGINE_DATABASE_URL": database_url,
        "LEAD_ENGINE_COMPANY_EXPLORER_URL": explorer_url,
        "LEAD_ENGINE_COMPANY_EXPLORER_TOKEN": TOKEN,
        "LEAD_ENGINE_WORKER_CONCURRENCY": str(args.concurrency),
        "LEAD_ENGINE_WORKER_POLL_SECONDS": str(args.poll),
        "LEAD_ENGINE_LOG_LEVEL": "WARNING",
    }
    workers = []
    marks: dict[float, float] = {}
    start = time.monotonic()
    try:
        for index in range(args.workers):
            log = (workdir / f"worker-{index}.log").open("wb")
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "lead_engine", "worker"],
                    env=engine_env(env), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        synced = 0
        while synced < args.leads:
            if time.monotonic() - start > args.timeout:
                raise TimeoutError(f"only {synced} of {args.leads} leads synced after {args.timeout} s")
            time.sleep(0.25)
            synced = count_synced(database_url)
            for share in (0.1, 0.9):
                if synced >= share * args.leads and share not in marks:
                    marks[share] = time.monotonic()
            print(f"\r{synced}/{args.leads} synced after {time.monotonic() - start:.1f} s", end="", flush=True)
        total = time.monotonic() - start
        print()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    steady = 0.8 * args.leads / max(marks[0.9] - marks[0.1], 1e-9)
    return {"total": total, "rate": args.leads / total, "steady": steady}


def write_docs(section: str) -> None:
    """Put the "## Sync" section into docs/BENCHMARKS.md, leaving the other sections alone."""
    DOCS.parent.mkdir(exist_ok=True)
    current = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Sync\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _match: section, current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    DOCS.write_text(updated.rstrip("\n") + "\n")


def main() -> None:
    """Run the benchmark and print (and optionally record) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the stand-in adds to every answer")
    parser.add_argument("--poll", type=float, default=0.5, help="LEAD_ENGINE_WORKER_POLL_SECONDS")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="run on a fresh PostgreSQL database, not SQLite")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--write-docs", action="store_true", help="write the figures into docs/BENCHMARKS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        workdir = Path(tmp)
        database_url = fresh_postgres(args.postgres) if args.postgres else f"sqlite:///{workdir / 'bench.db'}"
        port = free_port()
        command = ["-m", "tests.support.company_explorer_server", "--port", str(port), "--latency", str(args.latency)]
        stand_in = subprocess.Popen([sys.executable, *command], env=engine_env({}), cwd=ROOT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/_stats", process=stand_in)
            add_backlog(database_url, args.leads)
            figures = drain(args, database_url, f"http://127.0.0.1:{port}", workdir)
            stats = httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=10).json()
        finally:
            stand_in.terminate()
            stand_in.wait(timeout=30)
            if args.postgres:
                drop_postgres(args.postgres, database_url)

    ideal = args.workers * args.concurrency / (CALLS_PER_LEAD * args.latency)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    row = (
        f"| {backend} | {args.leads} | {args.workers} × {args.concurrency} | {args.latency * 1000:.0f} ms "
        f"| {figures['total']:.1f} s | {figures['rate']:.1f} | {figures['steady']:.1f} | {ideal:.1f} "
        f"| {figures['steady'] / ideal:.0%} | {stats['companies']} |"
    )
    print(row)
    if args.write_docs:
        record_row(row)


HEADER = (
    "| database | leads | workers × threads | latency | drain time | leads/s overall | leads/s steady "
    "| ideal leads/s | steady / ideal | companies created |\n|---|---|---|---|---|---|---|---|---|---|\n"
)


def record_row(row: str) -> None:
    """Add a result row to the Sync section (rows of the same setup are replaced), with the machine facts."""
    existing = DOCS.read_text() if DOCS.exists() else ""
    match = re.search(r"^## Sync\n.*?(?=^## |\Z)", existing, re.MULTILINE | re.DOTALL)
    rows = [
        line for line in (match.group(0) if match else "").splitlines() if re.match(r"^\| (SQLite|PostgreSQL) ", line)
    ]
    setup = row.split("|")[1:5]
    rows = [line for line in rows if line.split("|")[1:5] != setup] + [row]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    section = (
        "## Sync\n\n"
        "Worker processes (`python -m lead_engine worker`) drain a backlog of ready leads, each of a company the\n"
        "Company Explorer does not know yet, into the stand-in (`tests/support/company_explorer_server.py`, its own\n"
        "process) which adds a fixed latency to every answer. A new company costs five calls (domain search, name\n"
        f"search, create, contact, discovery), so the ideal is `workers × threads / ({CALLS_PER_LEAD} × latency)`.\n"
        '"Steady" is the rate between 10 % and 90 % of the backlog; the drain time includes starting the workers.\n\n'
        + HEADER
        + "\n".join(rows)
        + "\n\n"
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; measured {datetime.now(UTC):%Y-%m-%d}. The workers, the\n"
        "stand-in and the database share these CPUs.\n\n"
        "Reading: with few threads the rate follows the ideal; with many, the CPUs are the limit (each lead costs\n"
        "five HTTP round trips on both sides and four short database transactions, all on the same two cores here),\n"
        "so more threads pay off only with more cores or a slower Company Explorer. The runs use the default\n"
        "`LEAD_ENGINE_WORKER_POLL_SECONDS=0.5`: a worker whose threads are all busy claims again as soon as one\n"
        "finishes, so the poll interval only matters to an idle worker.\n\n"
        "Re-run: `.venv/bin/python -m bench.sync_bench --leads 5000 --workers 2 --concurrency 32 --write-docs`\n"
        "(add `--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres` for PostgreSQL).\n\n"
    )
    write_docs(section)


if __name__ == "__main__":
    main()
