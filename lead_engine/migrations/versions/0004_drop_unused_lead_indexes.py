"""drop indexes that cost every ingest a write and serve no query

ix_leads_status and ix_leads_source repeat the leading column of (status, received_at) and
(source, received_at); ix_leads_external_id and ix_idempotency_keys_lead_id are read by no query (search on
external_id is a LIKE scan, keys are looked up by key).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DROPPED = (
    ("ix_leads_status", "leads", ["status"]),
    ("ix_leads_source", "leads", ["source"]),
    ("ix_leads_external_id", "leads", ["external_id"]),
    ("ix_idempotency_keys_lead_id", "idempotency_keys", ["lead_id"]),
)


def upgrade() -> None:
    for name, table, _columns in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
