"""Kiln's AMIs (kiln.store.ami_schema).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "amis",
        sa.Column("ami_id", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text),
        sa.Column("image_arn", sa.String(1024)),
        sa.Column("source_ami", sa.String(32)),
        sa.Column("source_region", sa.String(32)),
        sa.Column("disk", sa.String(1024), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("architecture", sa.String(16), nullable=False),
        sa.Column("kms_key_id", sa.String(2048)),
        sa.Column("launch_permissions", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_amis_owner", "amis", ["account", "region", "name"])
    op.create_index("ix_amis_image", "amis", ["image_arn"])
    op.create_index("ix_amis_disk", "amis", ["disk"])


def downgrade() -> None:
    op.drop_table("amis")
