"""Operator login: the shared UI password, or named users with PBKDF2-hashed passwords; and signed-in browsers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import Session

from lead_engine.core.models import OperatorSession, utcnow
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000
SHARED_ACTOR = "operator"
# The cookie that keeps a browser signed in: a random token whose hash is an operator_sessions row.
SESSION_COOKIE = "lead_engine_session"
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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(*, session: Session, settings: Settings, actor: str) -> str:
    """Remember a signed-in browser for ``ui_session_hours``; returns the token for its cookie (commits)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(OperatorSession).where(OperatorSession.expires_at < now))  # type: ignore[arg-type]
    expires_at = now + timedelta(hours=settings.ui_session_hours)
    session.add(OperatorSession(token_hash=_token_hash(token), actor=actor, expires_at=expires_at))
    session.commit()
    return token


def session_actor(*, session: Session, settings: Settings, token: str | None) -> str | None:
    """Who a browser's token signs in, while it has not expired and that operator can still sign in."""
    if not token or len(token) > 100:
        return None
    stored = session.get(OperatorSession, _token_hash(token))
    if stored is None or stored.expires_at <= utcnow():
        return None
    if stored.actor in read_users(settings) or (stored.actor == SHARED_ACTOR and settings.ui_password is not None):
        return stored.actor
    return None


def close_session(*, session: Session, token: str | None) -> None:
    """Sign a browser out: its token no longer counts anywhere (commits)."""
    if token:
        session.execute(delete(OperatorSession).where(OperatorSession.token_hash == _token_hash(token)))  # type: ignore[arg-type]
        session.commit()
