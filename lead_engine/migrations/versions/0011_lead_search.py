"""lead search

Each lead keeps its searched values folded (``search_text``: "Müller", "Mueller" and "Muller" all read
"muller"), filled here for the leads already stored. SQLite indexes it with an FTS5 trigram table that
triggers keep in step; PostgreSQL with a pg_trgm GIN index where the extension can be created (without it,
search still works, by scanning).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from lead_engine.core.search import FTS_TABLE, SEARCHED, search_text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

logger = logging.getLogger(__name__)
TRIGRAM_INDEX = "ix_leads_search_trigram"
SQLITE_INDEX = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(search_text, content='', tokenize='trigram')",
    f"""CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON leads BEGIN
        INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.rowid, coalesce(new.search_text, ''));
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF search_text ON leads BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.rowid, coalesce(old.search_text, ''));
        INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.rowid, coalesce(new.search_text, ''));
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON leads BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.rowid, coalesce(old.search_text, ''));
    END""",
)


def _fill(connection: sa.Connection) -> None:
    leads = sa.table("leads", sa.column("id"), sa.column("search_text"), *(sa.column(name) for name in SEARCHED))
    rows = connection.execute(sa.select(leads.c.id, *(leads.c[name] for name in SEARCHED))).all()
    values = [{"lead_id": row.id, "text": search_text(row._mapping)} for row in rows]
    if values:
        update = sa.update(leads).where(leads.c.id == sa.bindparam("lead_id")).values(search_text=sa.bindparam("text"))
        connection.execute(update, values)


def upgrade() -> None:
    connection = op.get_bind()
    op.add_column("leads", sa.Column("search_text", sa.Text(), nullable=True))
    _fill(connection)
    if connection.dialect.name == "sqlite":
        for statement in SQLITE_INDEX:
            op.execute(statement)
        op.execute(f"INSERT INTO {FTS_TABLE}(rowid, search_text) SELECT rowid, coalesce(search_text, '') FROM leads")
        return
    savepoint = connection.begin_nested()
    try:
        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        savepoint.rollback()
        logger.warning("pg_trgm cannot be created here: lead search scans the table")
        return
    savepoint.commit()
    op.execute(f"CREATE INDEX {TRIGRAM_INDEX} ON leads USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    else:
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("search_text")
