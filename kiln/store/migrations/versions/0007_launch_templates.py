"""EC2 launch templates and their versions (kiln.store.launch_template_schema).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "launch_templates",
        sa.Column("launch_template_id", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("default_version", sa.Integer, nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(2048), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account", "region", "name", name="uq_launch_templates_name"),
    )
    op.create_index("ix_launch_templates_scope", "launch_templates", ["account", "region"])
    op.create_table(
        "launch_template_versions",
        sa.Column(
            "launch_template_id",
            sa.String(32),
            sa.ForeignKey("launch_templates.launch_template_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version_number", sa.Integer, primary_key=True),
        sa.Column("description", sa.Text),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("launch_template_versions")
    op.drop_table("launch_templates")
