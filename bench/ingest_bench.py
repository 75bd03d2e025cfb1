"""Ingest throughput and latency: our POST /api/ingest against a bare and a naive durable endpoint.

Run: .venv/bin/python -m bench.ingest_bench [--seconds 8] [--connections 32] [--rounds 5]   (needs Debian's wrk)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import machine_line, write_section

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
RESULT = re.compile(r"RESULT requests=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) errors=(\d+) non2xx=(\d+)")


@dataclass
class Run:
    """One load run against one server."""

    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def measure(name: str, command: list[str], env: dict[str, str], port: int, args: argparse.Namespace) -> Run:
    """Start a server, warm it up, load it with wrk, stop it."""
    # The disk starts quiet: the previous server's dirty pages must not be written back during this run.
    os.sync()
    time.sleep(1)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(f"http://127.0.0.1:{port}/", process)
        url = f"http://127.0.0.1:{port}"
        load = ["wrk", "-t2", f"-c{args.connections}", "--latency", "-s", str(ROOT / "bench" / "ingest.lua")]
        subprocess.run([*load, "-d2s", url, "--", TOKEN, "warm-up"], check=True, capture_output=True)
        output = subprocess.run(
            [*load, f"-d{args.seconds}s", url, "--", TOKEN, "run"], check=True, capture_output=True, text=True
        ).stdout
    finally:
        process.terminate()
        process.wait(timeout=30)
    found = RESULT.search(output)
    if not found:
        raise RuntimeError(f"wrk gave no result for {name}:\n{output}")
    requests, duration, p50, p99, errors, non2xx = map(int, found.groups())
    return Run(name, requests, duration / 1e6, p50 / 1000, p99 / 1000, errors + non2xx)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    """Measure the endpoints in interleaved rounds and write the Ingest section of docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="lead-engine-bench-"))
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("LEAD_ENGINE_")}
    base_env["PYTHONPATH"] = str(ROOT)
    uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning", "--host", "127.0.0.1"]
    runs: dict[str, list[Run]] = {"bare": [], "bare ASGI": [], "naive": [], "ours": []}
    stored = synchronous = warm_up = 0
    load_before = os.getloadavg()[0]
    # Rounds alternate the servers, so a slower minute on a shared machine hits all of them alike;
    # each ratio compares runs of one round.
    for number in range(args.rounds):
        port = _free_port()
        runs["bare"].append(
            measure("bare", [*uvicorn, "--port", str(port), "bench.baselines:bare_app"], base_env, port, args)
        )
        port = _free_port()
        runs["bare ASGI"].append(
            measure("bare ASGI", [*uvicorn, "--port", str(port), "bench.baselines:bare_asgi_app"], base_env, port, args)
        )
        port = _free_port()
        naive_env = {**base_env, "BENCH_NAIVE_DB": str(workdir / f"naive-{number}.db")}
        runs["naive"].append(
            measure("naive", [*uvicorn, "--port", str(port), "bench.baselines:naive_app"], naive_env, port, args)
        )
        port = _free_port()
        ours_db = workdir / f"leads-{number}.db"
        ours_env = {
            **base_env,
            "LEAD_ENGINE_DATABASE_URL": f"sqlite:///{ours_db}",
            "LEAD_ENGINE_API_TOKEN": TOKEN,
            "LEAD_ENGINE_API_PORT": str(port),
            "LEAD_ENGINE_LOG_LEVEL": "WARNING",
        }
        runs["ours"].append(measure("ours", [sys.executable, "-m", "lead_engine", "api"], ours_env, port, args))
        with sqlite3.connect(ours_db) as connection:
            stored = connection.execute("SELECT count(*) FROM leads").fetchone()[0]
            warm_up = connection.execute("SELECT count(*) FROM leads WHERE subject LIKE '%warm-up%'").fetchone()[0]
            synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
        print(" ".join(f"{name} {found[-1].rps:,.0f}/s" for name, found in runs.items()), flush=True)
    load_after = os.getloadavg()[0]

    def ratios(name: str, baseline: str) -> list[float]:
        return [run.rps / base.rps for run, base in zip(runs[name], runs[baseline], strict=True)]

    rows = "\n".join(
        f"| {name} | {_median([run.rps for run in found]):,.0f} | {_median([run.p50_ms for run in found]):.1f} | "
        f"{_median([run.p99_ms for run in found]):.1f} | {max(run.p99_ms for run in found):.1f} | "
        f"{sum(run.failures for run in found)} |"
        for name, found in runs.items()
    )
    to_bare, to_naive, to_asgi = ratios("ours", "bare"), ratios("ours", "naive"), ratios("ours", "bare ASGI")
    command = f"--seconds {args.seconds} --connections {args.connections} --rounds {args.rounds}"
    body = f"""
Command: `.venv/bin/python -m bench.ingest_bench {command}`.
wrk, 2 threads, {args.connections} connections, {args.seconds} s after a 2 s warm-up, a unique lead per request,
on 127.0.0.1 sharing the machine with the servers. {args.rounds} rounds, each running bare, bare ASGI, naive and
ours back to back, each starting on a quiet disk (`sync` first); the figures are medians over the rounds, each
ratio the median of the rounds' own ratios. {machine_line()}
The machine was shared with other work (1-minute load average {load_before:.1f} before, {load_after:.1f} after).

- **bare**: one uvicorn process, a FastAPI endpoint that only validates the JSON object and answers 202
  (no storage).
- **bare ASGI**: the same check as a plain ASGI app, no framework: what uvicorn alone can do here.
- **naive**: one uvicorn process, one SQLite INSERT + COMMIT per request (WAL, `synchronous=FULL`), in the
  thread pool.
- **ours**: `python -m lead_engine api`: one uvicorn process and its ingest writer process; `POST /api/ingest`
  (a plain ASGI handler in front of the FastAPI app) with auth, the 1 MiB streaming limit, idempotency keys,
  raw message + lead + event + job + keys committed before the 202 (group commit, SQLite WAL with
  `synchronous=FULL`).

| endpoint | requests/s | p50 ms | p99 ms | worst p99 ms | failed |
|---|---|---|---|---|---|
{rows}

- ours / bare throughput: **{_median(to_bare):.2f}** (target ≥ 0.70; rounds: {", ".join(f"{r:.2f}" for r in to_bare)})
- ours / naive throughput: **{_median(to_naive):.2f}** (target ≥ 2; rounds: {", ".join(f"{r:.2f}" for r in to_naive)})
- ours / bare ASGI throughput: **{_median(to_asgi):.2f}** (no target; rounds: {", ".join(f"{r:.2f}" for r in to_asgi)})
- ours p99: **{_median([run.p99_ms for run in runs["ours"]]):.1f} ms** (target ≤ 50 ms)
- leads stored by ours in the last round: {stored:,}, for {runs["ours"][-1].requests:,} measured requests and
  {warm_up:,} in the warm-up, every one a new lead (`PRAGMA synchronous` = {synchronous}, 2 = FULL)
"""
    write_section("Ingest", body)
    print(body)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
