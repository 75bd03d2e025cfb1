"""The Dockerfile builds from files that exist and runs what the tests start (no Docker engine here)."""

from __future__ import annotations

import re

from tests.support.servers import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_copied_path_exists() -> None:
    sources = [
        source
        for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M)
        for source in line.split()[:-1]
        if not source.startswith("--")
    ]
    assert sources, "no COPY lines found"
    for source in sources:
        assert (ROOT / source).exists(), source


def test_image_runs_supervisord_under_the_serve_command_as_a_non_root_user() -> None:
    assert DOCKERFILE.startswith("# ") and "FROM python:3.11-slim" in DOCKERFILE
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0")
    cmd = re.findall(r"^CMD (.+)$", DOCKERFILE, re.M)[-1]
    # `serve` (tested with the real supervisord in test_supervisord.py) writes .env and relays supervisord's output.
    assert cmd == '["python", "-m", "lead_engine", "serve", "--config", "/app/supervisord.conf"]'
    # The dependency layer comes before the code, so code changes do not reinstall packages.
    assert DOCKERFILE.index("pip install -r requirements.txt") < DOCKERFILE.index("COPY lead_engine")
