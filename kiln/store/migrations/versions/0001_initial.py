"""Accounts, resources, references, build counters and client tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("arn", sa.String(1024), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("arn_name", sa.String(256), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("major", sa.Integer),
        sa.Column("minor", sa.Integer),
        sa.Column("patch", sa.Integer),
        sa.Column("build", sa.Integer),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("status", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("policy", sa.Text),
    )
    op.create_index(
        "ix_resources_scope", "resources", ["account", "region", "resource_type", "arn_name"]
    )
    op.create_index("ix_resources_owner", "resources", ["owner", "region", "resource_type"])
    op.create_table(
        "resource_refs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("source_arn", sa.String(1024), nullable=False),
        sa.Column("target_arn", sa.String(1024), nullable=False),
    )
    op.create_index("ix_refs_target", "resource_refs", ["target_arn"])
    op.create_index("ix_refs_source", "resource_refs", ["source_arn"])
    op.create_table(
        "build_counters",
        sa.Column("version_arn", sa.String(1024), primary_key=True),
        sa.Column("last_build", sa.Integer, nullable=False),
    )
    op.create_table(
        "client_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("operation", sa.String(128), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account", "region", "operation", "token"),
    )


def downgrade() -> None:
    for table in ("client_tokens", "build_counters", "resource_refs", "resources", "accounts"):
        op.drop_table(table)
