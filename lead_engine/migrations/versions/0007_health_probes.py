"""health probes

The health check writes one row to prove the database takes writes (a full disk or a read-only database only
shows on a write).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lead_engine.core.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_probes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("health_probes")
