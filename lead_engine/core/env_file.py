"""The ``.env`` file written on first run with a generated API token and UI password."""

from __future__ import annotations

import secrets
from pathlib import Path

from dotenv import dotenv_values

GENERATED = ("LEAD_ENGINE_API_TOKEN", "LEAD_ENGINE_UI_PASSWORD")


def ensure_env_file(path: Path) -> list[str]:
    """Add a generated value for each secret the file lacks; returns the names it added."""
    existing = dotenv_values(path) if path.exists() else {}
    missing = [name for name in GENERATED if not existing.get(name)]
    if missing:
        lines = [f"{name}={secrets.token_urlsafe(24)}" for name in missing]
        prefix = "" if not path.exists() or path.read_text().endswith("\n") or not path.read_text() else "\n"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(prefix + "\n".join(lines) + "\n")
        path.chmod(0o600)
    return missing
