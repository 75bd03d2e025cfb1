"""indexes for the operator UI: inbox by source, dashboard events by action

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The inbox filters by source and sorts by arrival; the dashboard reads "received"/"synced" events by time.
    op.create_index("ix_leads_source_received", "leads", ["source", "received_at"])
    op.create_index("ix_lead_events_action_at", "lead_events", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_lead_events_action_at", table_name="lead_events")
    op.drop_index("ix_leads_source_received", table_name="leads")
