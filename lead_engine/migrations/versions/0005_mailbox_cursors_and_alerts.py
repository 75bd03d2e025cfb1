"""mailbox cursors and operator alerts

Reconciliation remembers, per folder and UIDVALIDITY, the UID up to which every mail has a lead; operator
alerts (a source gone quiet, a mailbox refusing the login) are raised once and cleared when it is over.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lead_engine.core.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_cursors",
        sa.Column("mailbox", sa.String(length=500), primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "operator_alerts",
        sa.Column("key", sa.String(length=300), primary_key=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.Column("cleared_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("operator_alerts")
    op.drop_table("mailbox_cursors")
