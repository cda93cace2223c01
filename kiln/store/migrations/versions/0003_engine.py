"""The engine: work items, ledger, workflow and step executions, image packages.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(1024), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(256)),
        sa.Column("lease_expires_at", _WHEN),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_work_items_state", "work_items", ["state", "id"])
    op.create_index("ix_work_items_subject", "work_items", ["subject"])
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("image_arn", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("released_at", _WHEN),
    )
    op.create_index("ix_ledger_image", "ledger", ["image_arn", "released_at"])
    op.create_table(
        "workflow_executions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("image_arn", sa.String(1024), nullable=False),
        sa.Column("workflow_arn", sa.String(1024), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("parallel_group", sa.String(128)),
        sa.Column("total_steps", sa.Integer, nullable=False),
        sa.Column("steps_succeeded", sa.Integer, nullable=False),
        sa.Column("steps_failed", sa.Integer, nullable=False),
        sa.Column("steps_skipped", sa.Integer, nullable=False),
        sa.Column("start_time", _WHEN),
        sa.Column("end_time", _WHEN),
    )
    op.create_index("ix_workflow_executions_image", "workflow_executions", ["image_arn"])
    op.create_table(
        "step_executions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("image_arn", sa.String(1024), nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("rollback_status", sa.String(32)),
        sa.Column("inputs", sa.Text),
        sa.Column("outputs", sa.Text),
        sa.Column("on_failure", sa.String(16), nullable=False),
        sa.Column("timeout_seconds", sa.Integer, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("start_time", _WHEN),
        sa.Column("end_time", _WHEN),
    )
    op.create_index("ix_step_executions_execution", "step_executions", ["execution_id", "position"])
    op.create_index("ix_step_executions_status", "step_executions", ["status"])
    op.create_table(
        "image_packages",
        sa.Column("image_arn", sa.String(1024), primary_key=True),
        sa.Column("packages", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("image_packages", "step_executions", "workflow_executions", "ledger"):
        op.drop_table(table)
    op.drop_table("work_items")
