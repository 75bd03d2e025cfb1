"""Operator login: the shared UI password, or named users with PBKDF2-hashed passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000
SHARED_ACTOR = "operator"
# Checked when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = f"{SCHEME}$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """An encoded ``pbkdf2_sha256$iterations$salt$hash`` string for a password."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether the password matches an encoded hash (constant-time compare; malformed hashes never match)."""
    try:
        scheme, iterations, salt, expected = encoded.strip().split("$")
        if scheme != SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iterations))
        return hmac.compare_digest(digest, _unb64(expected))
    except ValueError:
        return False


def read_users(settings: Settings) -> dict[str, str]:
    """The named operators from ``LEAD_ENGINE_UI_USERS``: name → encoded hash."""
    if settings.ui_users is None:
        return {}
    users = {}
    for entry in settings.ui_users.get_secret_value().split(","):
        name, _, encoded = entry.strip().partition(":")
        if name.strip() and encoded.strip():
            users[name.strip()] = encoded.strip()
    return users


def login_configured(settings: Settings) -> bool:
    """Whether any way to log in is configured (a shared password or named users)."""
    return settings.ui_password is not None or bool(read_users(settings))


def authenticate(settings: Settings, username: str, password: str) -> str | None:
    """The actor name for valid credentials, else None."""
    username = username.strip()
    users = read_users(settings)
    if username in users:
        actor = username if verify_password(password, users[username]) else None
    elif settings.ui_password is not None and username in ("", SHARED_ACTOR):
        expected = settings.ui_password.get_secret_value().encode()
        actor = SHARED_ACTOR if expected and hmac.compare_digest(password.encode(), expected) else None
    else:
        verify_password(password, _DUMMY_HASH)
        actor = None
    if actor is None:
        logger.warning("operator login refused", extra={"action": "ui.login_failed", "username": username[:64]})
    else:
        logger.info("operator logged in", extra={"action": "ui.login", "actor": actor})
    return actor
