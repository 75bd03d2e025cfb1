"""What every API route depends on: the settings, the engine, sessions and the bearer-token check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPBearer
from pydantic import AfterValidator, Field, StringConstraints
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.db import read_session
from lead_engine.core.settings import Settings
from lead_engine.core.webhooks import authorize


def app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


def app_engine(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


BEARER = HTTPBearer(auto_error=False, description="LEAD_ENGINE_API_TOKEN, as `Authorization: Bearer <token>`")


def require_token(request: Request, _credentials: Annotated[Any, Security(BEARER)] = None) -> str:
    """Every /api route but health and ingest needs the bearer token (declared as such in the OpenAPI document)."""
    authorize(app_settings(request), request.headers)
    return "api"


def write_session(request: Request) -> Iterator[Session]:
    """A session for a use case, which commits its own transaction; results stay readable after it."""
    with Session(app_engine(request), expire_on_commit=False) as session:
        yield session


def reading_session(request: Request) -> Iterator[Session]:
    """A read-only session (no write lock on SQLite)."""
    with read_session(app_engine(request)) as session:
        yield session


# What the database can store and the API promises: no NUL characters, ids as ids, versions and times in range.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL, max_length=1000)]
Name = Annotated[str, StringConstraints(pattern=NO_NUL, max_length=100)]
LeadId = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="a lead's id")]
ListedId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
Version = Annotated[int, Field(ge=0, le=2**31 - 1)]


def _in_range(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        raise ValueError("date out of range") from None


Moment = Annotated[datetime, AfterValidator(_in_range)]

Actor = Annotated[str, Depends(require_token)]
WriteDep = Annotated[Session, Depends(write_session)]
ReadDep = Annotated[Session, Depends(reading_session)]
SettingsDep = Annotated[Settings, Depends(app_settings)]
