"""imports

Spreadsheet imports: the uploaded file with its mapping and progress, what each row became (for the report
and for undo), and the mappings used before, by header signature.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lead_engine.core.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("file", sa.LargeBinary(), nullable=False),
        sa.Column("encoding", sa.String(32), nullable=False),
        sa.Column("delimiter", sa.String(4), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("undo", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("locked_by", sa.String(128), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_imports_status", "imports", ["status"])
    op.create_table(
        "import_rows",
        sa.Column("import_id", sa.String(32), sa.ForeignKey("imports.id"), primary_key=True),
        sa.Column("row", sa.Integer(), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("lead_id", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_import_rows_lead", "import_rows", ["lead_id"])
    op.create_table(
        "import_mappings",
        sa.Column("signature", sa.String(64), primary_key=True),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_mappings")
    op.drop_index("ix_import_rows_lead", table_name="import_rows")
    op.drop_table("import_rows")
    op.drop_index("ix_imports_status", table_name="imports")
    op.drop_table("imports")
