"""drop the single-column status and source indexes of leads: (status, received_at) and (source, received_at) serve

Every lead written costs one entry per index; these two duplicated the leading column of the composite ones.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_leads_status", table_name="leads")
    op.drop_index("ix_leads_source", table_name="leads")


def downgrade() -> None:
    op.create_index("ix_leads_source", "leads", ["source"])
    op.create_index("ix_leads_status", "leads", ["status"])
