"""The ``.env`` file: written on first run with a generated API token and a first named operator, ``admin``;
named operators are added, reset and removed in it."""

from __future__ import annotations

import secrets
from pathlib import Path

from dotenv import dotenv_values, set_key

from lead_engine.core.operators import hash_password

API_TOKEN, UI_PASSWORD, UI_USERS = "LEAD_ENGINE_API_TOKEN", "LEAD_ENGINE_UI_PASSWORD", "LEAD_ENGINE_UI_USERS"
FIRST_OPERATOR = "admin"
FIRST_SIGN_IN = "# First sign-in:"


def _append(path: Path, lines: list[str]) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(("\n" if text and not text.endswith("\n") else "") + "\n".join(lines) + "\n")
    path.chmod(0o600)


def ensure_env_file(path: Path) -> list[str]:
    """Add what the file lacks: an API token, and a first operator ``admin`` unless any login is configured
    (its generated password is noted in a comment beside it, for the first sign-in). Returns the names it added."""
    existing = dotenv_values(path) if path.exists() else {}
    lines, added = [], []
    if not existing.get(API_TOKEN):
        lines.append(f"{API_TOKEN}={secrets.token_urlsafe(24)}")
        added.append(API_TOKEN)
    if not existing.get(UI_PASSWORD) and not existing.get(UI_USERS):
        password = secrets.token_urlsafe(12)
        lines += [
            f"{FIRST_SIGN_IN} name {FIRST_OPERATOR}, password {password}. Change it, and add colleagues, with",
            "# python -m lead_engine operator add NAME (this note goes once admin's password is changed).",
            f"{UI_USERS}={FIRST_OPERATOR}:{hash_password(password)}",
        ]
        added.append(UI_USERS)
    if lines:
        _append(path, lines)
    return added


def read_operators(path: Path) -> dict[str, str]:
    """The named operators in the file: name → encoded password hash."""
    value = (dotenv_values(path) if path.exists() else {}).get(UI_USERS) or ""
    entries = (entry.strip().partition(":") for entry in value.split(","))
    return {name.strip(): encoded.strip() for name, _, encoded in entries if name.strip() and encoded.strip()}


def _forget_first_password(path: Path) -> None:
    """Drop the note of admin's generated password (two comment lines)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.startswith(FIRST_SIGN_IN):
            del lines[number : number + 2]
            path.write_text("".join(lines), encoding="utf-8")
            return


def _write_operators(path: Path, operators: dict[str, str]) -> None:
    if not path.exists():
        path.touch(mode=0o600)
    set_key(str(path), UI_USERS, ",".join(f"{name}:{encoded}" for name, encoded in operators.items()), "never")
    path.chmod(0o600)


def set_operator(path: Path, name: str, password: str | None = None) -> str:
    """Add the operator, or give them a new password (generated unless given); returns the password."""
    name = name.strip()
    if not name or any(char in name for char in ":,= \t\n#\"'"):
        raise ValueError("an operator's name needs letters or digits, without spaces, ':', ',' or '='")
    password = password or secrets.token_urlsafe(12)
    _write_operators(path, {**read_operators(path), name: hash_password(password)})
    if name == FIRST_OPERATOR:
        _forget_first_password(path)
    return password


def remove_operator(path: Path, name: str) -> bool:
    """Remove the operator; False when there was none of that name."""
    operators = read_operators(path)
    if operators.pop(name.strip(), None) is None:
        return False
    _write_operators(path, operators)
    if name.strip() == FIRST_OPERATOR:
        _forget_first_password(path)
    return True
