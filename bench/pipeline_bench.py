"""The whole pipeline under load: the programs of supervisord.conf ingesting while the worker drains, drain and
sync rates, and sync against a flaky and a downed Company Explorer.

Run: .venv/bin/python -m bench.pipeline_bench [--rounds 3] [--seconds 6] [--postgres ADMIN_URL] [--faults]
     [--outage-seconds 600] [--write-docs]          (needs Debian's wrk)

Each stack is supervisord itself running a copy of the shipped supervisord.conf (API with its ingest writer,
worker, UI and poller; the UI and poller idle as in production) in a fresh directory, against a fresh database,
with the Company Explorer stand-in (tests/support/company_explorer_server.py) in its own process answering at
once. On PostgreSQL the copy gains a second API (another port) and a second worker, as a team that outgrows one
process of each would run it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.ingest_bench import RESULT, TOKEN, Run
from bench.report import machine_line, write_section
from bench.sync_bench import add_backlog, drop_postgres, fresh_postgres
from lead_engine.core.db import create_db_engine, run_migrations
from lead_engine.core.inbound import prepare_ingest
from lead_engine.core.ingest import write_batch
from lead_engine.core.models import Lead
from lead_engine.core.statuses import LeadStatus
from tests.support.company_explorer_server import TOKEN as EXPLORER_TOKEN
from tests.support.servers import engine_env, free_port, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
WRK = ["wrk", "-t2", "--latency", "-s", str(ROOT / "bench" / "ingest.lua")]


@dataclass
class Stack:
    """A running supervisord stack: its API URLs, database and log."""

    directory: Path
    database_url: str
    api_urls: list[str]
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)

    def log(self) -> str:
        """What the programs printed so far."""
        return (self.directory / "stack.log").read_text(errors="replace")


def _stack_config(directory: Path, *, api_ports: list[int], workers: int) -> Path:
    """The shipped supervisord.conf, plus a program per further API port and worker."""
    text = (ROOT / "supervisord.conf").read_text()
    for index, port in enumerate(api_ports[1:], start=2):
        text += (
            f"\n[program:api{index}]\ncommand=python -m lead_engine api\ndirectory=%(here)s\n"
            f'environment=LEAD_ENGINE_API_PORT="{port}"\nautorestart=true\nstopsignal=TERM\n'
            "stdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\nredirect_stderr=true\n"
        )
    for index in range(2, workers + 1):
        text += (
            f"\n[program:worker{index}]\ncommand=python -m lead_engine worker\ndirectory=%(here)s\n"
            "autorestart=true\nstopsignal=TERM\nstdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\n"
            "redirect_stderr=true\n"
        )
    (directory / "data").mkdir(exist_ok=True)
    path = directory / "supervisord.conf"
    path.write_text(text)
    return path


@contextmanager
def running_stack(
    directory: Path, database_url: str, explorer_url: str | None, *, apis: int = 1, workers: int = 1, **env: str
) -> Iterator[Stack]:
    """supervisord with the shipped programs, until the block ends."""
    api_ports = [free_port() for _ in range(apis)]
    config = _stack_config(directory, api_ports=api_ports, workers=workers)
    values = {
        "LEAD_ENGINE_DATABASE_URL": database_url,
        "LEAD_ENGINE_API_TOKEN": TOKEN,
        "LEAD_ENGINE_API_PORT": str(api_ports[0]),
        "LEAD_ENGINE_UI_PORT": str(free_port()),
        "LEAD_ENGINE_UI_PASSWORD": "bench",
        "LEAD_ENGINE_LOG_LEVEL": "WARNING",
        # Every qualified lead goes on to sync, as it did before the daily limit existed: the bench measures the
        # pipeline, not the gate.
        "LEAD_ENGINE_AUTO_APPROVE_DAILY_LIMIT": "100000000",
        **env,
    }
    if explorer_url:
        values["LEAD_ENGINE_COMPANY_EXPLORER_URL"] = explorer_url
        values["LEAD_ENGINE_COMPANY_EXPLORER_TOKEN"] = EXPLORER_TOKEN
    full = engine_env(values)
    full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full.get('PATH', '')}"
    log = (directory / "stack.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
        cwd=directory,
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    urls = [f"http://127.0.0.1:{port}" for port in api_ports]
    try:
        for url in urls:
            wait_for_http(f"{url}/api/health", process=process, timeout=60)
        yield Stack(directory, database_url, urls, process)
    finally:
        stop_process(process, timeout=90)
        log.close()


@contextmanager
def running_explorer(*args: str) -> Iterator[str]:
    """The Company Explorer stand-in in its own process."""
    port = free_port()
    command = [sys.executable, "-m", "tests.support.company_explorer_server", "--port", str(port), *args]
    process = subprocess.Popen(command, env=engine_env({}), cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stats", process=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def explorer_stats(url: str) -> dict[str, int]:
    """The stand-in's counters."""
    return dict(httpx.get(f"{url}/_stats", timeout=10).json())


def add_received(database_url: str, count: int, tag: str) -> None:
    """``count`` new leads through the ingest path (raw mail, lead, event, process job), as if just received."""
    engine = create_db_engine(database_url)
    run_migrations(engine)
    for start in range(0, count, 500):
        items = [
            prepare_ingest(
                "application/json",
                json.dumps(
                    {
                        "source": "tradingtwins",
                        "subject": f"Neue Anfrage {tag}-{n}",
                        "raw_body": f"Firma: Kunde {tag}-{n} GmbH\nAnsprechpartner: Herr Max Muster\n"
                        f"E-Mail: max{n}@kunde-{tag}-{n}.de\nTelefon: 030 1234567",
                    }
                ).encode(),
            )
            for n in range(start, min(start + 500, count))
        ]
        write_batch(engine, items)
    engine.dispose()


def counts(database_url: str) -> dict[str, int]:
    """Leads per status now."""
    engine = create_db_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(select(Lead.status, func.count()).group_by(Lead.status)).all()  # type: ignore[call-overload]
    engine.dispose()
    return {status: number for status, number in rows}


def wrk(urls: list[str], connections: int, seconds: int, tag: str) -> Run:
    """Load the API(s) with unique leads (the connections split between them); p99 is the worst API's."""
    processes = [
        subprocess.Popen(
            [*WRK, f"-c{max(2, connections // len(urls))}", f"-d{seconds}s", url, "--", TOKEN, tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for url in urls
    ]
    runs = []
    for process in processes:
        output, _ = process.communicate(timeout=seconds + 60)
        found = RESULT.search(output)
        if not found:
            raise RuntimeError(f"wrk gave no result:\n{output}")
        requests, duration, p50, p99, errors, non2xx = map(int, found.groups())
        runs.append(Run(tag, requests, duration / 1e6, p50 / 1000, p99 / 1000, errors + non2xx))
    return Run(
        tag,
        sum(run.requests for run in runs),
        max(run.seconds for run in runs),
        max(run.p50_ms for run in runs),
        max(run.p99_ms for run in runs),
        sum(run.failures for run in runs),
    )


def bare(args: argparse.Namespace) -> Run:
    """The baseline: a bare FastAPI endpoint in one uvicorn process, no storage."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "bench.baselines:bare_app"],
        cwd=ROOT,
        env=engine_env({}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/docs", process=process)
        wrk([f"http://127.0.0.1:{port}"], args.connections, 2, "warm-up")
        return wrk([f"http://127.0.0.1:{port}"], args.connections, args.seconds, "bare")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _until(check: object, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return time.monotonic()
        time.sleep(0.2)
    raise TimeoutError(what)


@dataclass
class Round:
    """One round's figures."""

    bare: Run
    ours: Run
    drained_during: int  # backlog leads the worker processed while the load ran
    drain_rate: float  # received → ready/needs_review, leads/s, no ingest load
    sync_rate: float  # ready → synced, leads/s


def database_for(args: argparse.Namespace, directory: Path, name: str) -> str:
    """A fresh database: a PostgreSQL one when asked for, else SQLite in ``directory``."""
    return fresh_postgres(args.postgres) if args.postgres else f"sqlite:///{directory / name}"


def measure_round(args: argparse.Namespace, workdir: Path, number: int, explorer_url: str) -> Round:
    """Bare, then our stack ingesting while its worker drains a backlog, then drain and sync rates alone."""
    baseline = bare(args)
    apis = workers = 2 if args.postgres else 1
    made: list[str] = []
    try:
        # 1. Ingest while the worker drains: a backlog keeps it busy for the whole load.
        directory = workdir / f"load-{number}"
        directory.mkdir()
        database_url = database_for(args, directory, "leads.db")
        made.append(database_url)
        add_received(database_url, args.backlog, f"backlog{number}")
        with running_stack(directory, database_url, explorer_url, apis=apis, workers=workers) as stack:
            wrk(stack.api_urls, args.connections, 2, f"warm{number}")
            before = counts(database_url).get(LeadStatus.RECEIVED, 0)
            ours = wrk(stack.api_urls, args.connections, args.seconds, f"run{number}")
            after = counts(database_url).get(LeadStatus.RECEIVED, 0)
        drained_during = before + ours.requests - after
        # 2. Drain and sync alone: a backlog of received leads, the stack started on it.
        directory = workdir / f"drain-{number}"
        directory.mkdir()
        database_url = database_for(args, directory, "leads.db")
        made.append(database_url)
        add_received(database_url, args.drain, f"drain{number}")
        with running_stack(directory, database_url, explorer_url, apis=1, workers=workers):

            def processed() -> int:
                now = counts(database_url)
                return args.drain - now.get(LeadStatus.RECEIVED, 0)

            def synced() -> int:
                return counts(database_url).get(LeadStatus.SYNCED, 0)

            # Steady rates between 10 % and 90 %: starting the programs is not part of them.
            marks = {}
            for name, count in (("processed", processed), ("synced", synced)):
                marks[name, 0.1] = _until(lambda c=count: c() >= 0.1 * args.drain, 600, f"{name} 10 %")
                marks[name, 0.9] = _until(lambda c=count: c() >= 0.9 * args.drain, 600, f"{name} 90 %")
            _until(lambda: synced() == args.drain, 600, "every lead synced")
    finally:
        if args.postgres:
            for url in made:
                drop_postgres(args.postgres, url)
    span = 0.8 * args.drain
    drain_rate = span / (marks["processed", 0.9] - marks["processed", 0.1])
    sync_rate = span / (marks["synced", 0.9] - marks["synced", 0.1])
    result = Round(baseline, ours, drained_during, drain_rate, sync_rate)
    print(
        f"round {number}: bare {baseline.rps:,.0f}/s, ours {ours.rps:,.0f}/s p99 {ours.p99_ms:.0f} ms "
        f"(drained {drained_during} meanwhile), drain {drain_rate:.0f}/s, sync {sync_rate:.0f}/s",
        flush=True,
    )
    return result


def flaky_sync(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """20 ready leads against a Company Explorer failing half its calls (503, Retry-After: 1); default settings."""
    directory = workdir / "flaky"
    directory.mkdir()
    database_url = f"sqlite:///{directory / 'leads.db'}"
    add_backlog(database_url, 20)
    with running_explorer("--fail-ratio", "0.5", "--fail-retry-after", "1") as url:
        with running_stack(directory, database_url, url) as stack:
            start = stack.started
            deadline = start + 120
            while time.monotonic() < deadline and counts(database_url).get(LeadStatus.SYNCED, 0) < 20:
                time.sleep(0.5)
            elapsed = time.monotonic() - start
            final = counts(database_url)
            log = stack.log()
        stats = explorer_stats(url)
    kept = ("companies", "contacts", "discoveries", "companies_discovered_twice", "failed")
    outcome = {
        "synced": final.get(LeadStatus.SYNCED, 0),
        "dead": final.get(LeadStatus.DEAD, 0),
        "seconds": elapsed,
        "breaker_opened": log.count("breaker.opened"),
        "retrying": final.get(LeadStatus.RETRYING, 0),
    }
    return outcome | {key: stats[key] for key in kept}


def outage(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """100 ready leads, the Company Explorer down for ``--outage-seconds``, then back; default settings."""
    directory = workdir / "outage"
    directory.mkdir()
    database_url = f"sqlite:///{directory / 'leads.db'}"
    add_backlog(database_url, 100)
    with running_explorer() as url:
        httpx.post(f"{url}/_control", json={"down": True}, timeout=10)
        with running_stack(directory, database_url, url, LEAD_ENGINE_LOG_LEVEL="INFO") as stack:
            _until(lambda: explorer_stats(url)["failed"] > 0, 120, "the first failed call")
            down_at = time.monotonic()
            time.sleep(args.outage_seconds)
            during = explorer_stats(url)
            waiting = counts(database_url)
            httpx.post(f"{url}/_control", json={"down": False}, timeout=10)
            up_at = time.monotonic()
            done = _until(lambda: counts(database_url).get(LeadStatus.SYNCED, 0) == 100, 900, "all synced")
            log = stack.log()
        stats = explorer_stats(url)
    return {
        "outage_s": round(up_at - down_at),
        "calls_during": during["requests"],
        "dead_during": waiting.get(LeadStatus.DEAD, 0),
        "retrying_during": waiting.get(LeadStatus.RETRYING, 0) + waiting.get(LeadStatus.READY, 0),
        "synced_after_s": round(done - up_at, 1),
        "alerts_raised": log.count("alert.raised"),
        "breaker_opened": log.count("breaker.opened"),
    } | {key: stats[key] for key in ("companies", "contacts", "discoveries", "companies_discovered_twice")}


def _median(values: list[float]) -> float:
    return statistics.median(values)


def pipeline_section(
    args: argparse.Namespace, rounds: list[Round], load_before: float, load_after: float
) -> tuple[str, str]:
    """The title and text of the Pipeline section for these rounds."""
    ratios = [r.ours.rps / r.bare.rps for r in rounds]
    backend = "PostgreSQL, 2 APIs + 2 workers" if args.postgres else "SQLite, 1 API + 1 worker"
    rows = "\n".join(
        f"| {n} | {r.bare.rps:,.0f} | {r.ours.rps:,.0f} | {r.ours.rps / r.bare.rps:.2f} | {r.ours.p99_ms:.0f} "
        f"| {r.ours.failures} | {r.drained_during:,} | {r.drain_rate:.0f} | {r.sync_rate:.0f} |"
        for n, r in enumerate(rounds, start=1)
    )
    command = f"--rounds {args.rounds} --seconds {args.seconds}" + (" --postgres URL" if args.postgres else "")
    body = f"""
Command: `.venv/bin/python -m bench.pipeline_bench {command}`. {machine_line()}
1-minute load average {load_before:.1f} before, {load_after:.1f} after (the machine is shared).

The stack is supervisord running the shipped `supervisord.conf` ({backend}; UI and poller idle), a fresh
database per stack, the Company Explorer stand-in answering at once. Per round, interleaved:
**bare** — a bare FastAPI endpoint (one uvicorn process, no storage), wrk 2 threads, {args.connections}
connections, {args.seconds} s after a 2 s warm-up; **ours** — the same load on `POST /api/ingest` while the
worker drains a backlog of {args.backlog:,} received leads (and syncs them); **drain** / **sync** — a second
stack started on {args.drain:,} received leads without ingest load: leads/s from received to ready or
needs_review, and from ready to synced, each between 10 % and 90 % of the backlog.

| round | bare req/s | ours req/s | ours / bare | ours p99 ms | failed | drained meanwhile | drain leads/s | sync leads/s |
|---|---|---|---|---|---|---|---|---|
{rows}

- ingest while the worker drains / bare: **{_median(ratios):.2f}** (target ≥ 0.70), p99 **{_median([r.ours.p99_ms for r in rounds]):.0f} ms** (target ≤ 50)
- drain rate: **{_median([r.drain_rate for r in rounds]):.0f} leads/s** (target ≥ 300); ready → synced **{_median([r.sync_rate for r in rounds]):.0f} leads/s** (target ≥ 200)
"""  # noqa: E501
    title = "Pipeline (PostgreSQL)" if args.postgres else "Pipeline (SQLite)"
    return title, body


def main() -> None:
    """Measure, print, and with --write-docs write the Pipeline sections of docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--backlog", type=int, default=20000, help="leads the worker drains during the load")
    parser.add_argument("--drain", type=int, default=5000, help="leads of the drain-rate backlog")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="fresh PostgreSQL databases, 2 APIs and 2 workers")
    parser.add_argument("--faults", action="store_true", help="also the flaky and the downed Company Explorer")
    parser.add_argument("--outage-seconds", type=float, default=600)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="lead-engine-pipeline-"))
    load_before = os.getloadavg()[0]
    with running_explorer() as explorer_url:
        rounds = [measure_round(args, workdir, number, explorer_url) for number in range(args.rounds)]
    faults = (flaky_sync(args, workdir), outage(args, workdir)) if args.faults else None
    load_after = os.getloadavg()[0]
    shutil.rmtree(workdir, ignore_errors=True)

    if rounds:
        title, body = pipeline_section(args, rounds, load_before, load_after)
        print(body)
        if args.write_docs:
            write_section(title, body)
    if faults:
        flaky, down = faults
        fault_body = f"""
Command: `.venv/bin/python -m bench.pipeline_bench --faults --outage-seconds {args.outage_seconds:g}`. {machine_line()}
1-minute load average {load_before:.1f} before, {load_after:.1f} after (the machine is shared).
The supervisord stack on SQLite with the shipped defaults (three retries of a call within an attempt, waits
of 10 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h between attempts, a breaker after 5 failed attempts in a row over
at least 10 s, probing every 5–60 s).

- **Half the Company Explorer calls failing** (503, `Retry-After: 1`), 20 new leads: **{flaky["synced"]} of 20
  synced** after {flaky["seconds"]:.0f} s (target: 20 within 120 s), {flaky["dead"]} dead, {flaky["retrying"]}
  waiting for their next attempt, the breaker opened {flaky["breaker_opened"]} time(s); the stand-in holds
  {flaky["companies"]} companies, {flaky["contacts"]} contacts, {flaky["discoveries"]} discoveries
  ({flaky["companies_discovered_twice"]} companies discovered twice), after {flaky["failed"]} failed calls.
- **Company Explorer down for {down["outage_s"]} s** (every call 503), 100 new leads, then back: during the outage
  **{down["calls_during"]} calls** reached it, {down["dead_during"]} leads dead, {down["retrying_during"]} waiting;
  the breaker opened {down["breaker_opened"]} time(s) and raised **{down["alerts_raised"]} alert(s)**; every lead
  synced **{down["synced_after_s"]} s after recovery**; {down["companies"]} companies, {down["contacts"]}
  contacts, {down["discoveries"]} discoveries ({down["companies_discovered_twice"]} twice).
"""
        print(fault_body)
        if args.write_docs:
            write_section("Sync under faults", fault_body)


if __name__ == "__main__":
    main()
