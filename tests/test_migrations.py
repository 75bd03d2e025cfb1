"""Migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from lead_engine.core.db import run_migrations
from lead_engine.core.search import FTS_TABLE

# The search index is not a model: SQLite's FTS5 table (and its shadow tables) and PostgreSQL's trigram index.
SEARCH_INDEX = (FTS_TABLE, "ix_leads_search_trigram")


def not_search_index(name: str | None, _type: str, _parent: object) -> bool:
    return not (name or "").startswith(SEARCH_INDEX)


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": not_search_index})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_migrations_run_again_without_change(engine: Engine) -> None:
    before = sorted(inspect(engine).get_table_names())
    run_migrations(engine)
    assert sorted(inspect(engine).get_table_names()) == before
    assert {"leads", "raw_messages", "lead_events", "jobs", "idempotency_keys"} <= set(before)
