"""qualification: grade, score components, template and review deadline

A lead's score is made of visible components; the grade (hot / warm / cold) follows from it, the template
(the mail family the parser recognised) weighs its source, and a lead in review is overdue after its deadline.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lead_engine.core.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("grade", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("score_components", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("template", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("review_due_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("review_due_at")
        batch.drop_column("template")
        batch.drop_column("score_components")
        batch.drop_column("grade")
