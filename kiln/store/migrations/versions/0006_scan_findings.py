"""Image scan findings (kiln.store.scan_schema).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "image_scan_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("image_arn", sa.String(1024), nullable=False),
        sa.Column("pipeline_arn", sa.String(1024)),
        sa.Column("vulnerability_id", sa.String(256), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("finding", sa.JSON, nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_image_scan_findings_scope", "image_scan_findings", ["account", "region", "id"]
    )
    op.create_index("ix_image_scan_findings_image", "image_scan_findings", ["image_arn"])
    op.create_index(
        "ix_image_scan_findings_vulnerability", "image_scan_findings", ["vulnerability_id"]
    )


def downgrade() -> None:
    op.drop_table("image_scan_findings")
