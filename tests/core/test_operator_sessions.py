"""Signed-in browsers: a token counts until it expires, until sign-out, and while its operator may sign in."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from lead_engine.core.models import OperatorSession, utcnow
from lead_engine.core.operators import SHARED_ACTOR, close_session, hash_password, open_session, session_actor
from lead_engine.core.settings import Settings


def configured(settings: Settings) -> Settings:
    users = SecretStr(f"anna:{hash_password('pw', iterations=1000)}")
    return settings.model_copy(update={"ui_password": SecretStr("shared"), "ui_users": users})


def test_a_token_signs_in_its_operator_until_sign_out(engine: Engine, settings: Settings) -> None:
    settings = configured(settings)
    with Session(engine) as session:
        anna = open_session(session=session, settings=settings, actor="anna")
        shared = open_session(session=session, settings=settings, actor=SHARED_ACTOR)
        assert session_actor(session=session, settings=settings, token=anna) == "anna"
        assert session_actor(session=session, settings=settings, token=shared) == SHARED_ACTOR
        close_session(session=session, token=anna)
        assert session_actor(session=session, settings=settings, token=anna) is None
        assert session_actor(session=session, settings=settings, token=shared) == SHARED_ACTOR
        # Only a hash of the token is stored.
        assert anna not in str(session.scalars(select(OperatorSession.token_hash)).all())


def test_a_token_stops_counting_when_it_expires_or_its_operator_is_gone(engine: Engine, settings: Settings) -> None:
    settings = configured(settings)
    with Session(engine) as session:
        old = open_session(session=session, settings=settings, actor="anna")
        session.execute(update(OperatorSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        assert session_actor(session=session, settings=settings, token=old) is None
        # Expired rows are cleared when the next browser signs in.
        fresh = open_session(session=session, settings=settings, actor="anna")
        assert len(session.scalars(select(OperatorSession)).all()) == 1
        removed = settings.model_copy(update={"ui_users": None})
        assert session_actor(session=session, settings=removed, token=fresh) is None
        for forged in (None, "", "x" * 500, "not-a-token"):
            assert session_actor(session=session, settings=settings, token=forged) is None
