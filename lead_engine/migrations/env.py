"""Alembic environment: runs on the connection handed over by ``run_migrations`` or on the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import lead_engine.core.models  # noqa: F401 - registers the tables on the metadata
from lead_engine.core.db import create_db_engine
from lead_engine.core.settings import get_settings

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_db_engine(get_settings().database_url)
    with engine.connect() as fresh, fresh.begin():
        _run(fresh)
