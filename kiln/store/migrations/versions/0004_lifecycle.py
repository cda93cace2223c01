"""Lifecycle executions and the resources they acted on.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lifecycle_executions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("policy_arn", sa.String(1024)),
        sa.Column("resource_arn", sa.String(1024)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("has_impacted", sa.Boolean, nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("update_at", _WHEN),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("start_time", _WHEN),
        sa.Column("end_time", _WHEN),
    )
    op.create_index("ix_lifecycle_executions_policy", "lifecycle_executions", ["policy_arn"])
    op.create_index(
        "ix_lifecycle_executions_status", "lifecycle_executions", ["status", "update_at"]
    )
    op.create_table(
        "lifecycle_execution_resources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(1024), nullable=False),
        sa.Column("parent_id", sa.String(1024)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("action_reason", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("image_uris", sa.JSON, nullable=False),
        sa.Column("start_time", _WHEN, nullable=False),
        sa.Column("end_time", _WHEN),
        sa.Column("artifact_removed_at", _WHEN),
    )
    op.create_index(
        "ix_lifecycle_resources_execution",
        "lifecycle_execution_resources",
        ["execution_id", "parent_id"],
    )
    op.create_index(
        "ix_lifecycle_resources_resource", "lifecycle_execution_resources", ["resource_id"]
    )


def downgrade() -> None:
    op.drop_table("lifecycle_execution_resources")
    op.drop_table("lifecycle_executions")
