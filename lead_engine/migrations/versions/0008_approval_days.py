"""approval days

The daily limit of automatic approvals counts in one row per day, taken and raised in the approving
transaction (a row lock on PostgreSQL), instead of counting the day's events for every lead.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("auto_approved", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("approval_days")
