"""IAM entities and credentials.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "iam_entities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("name_key", sa.String(128), nullable=False),
        sa.Column("entity_id", sa.String(32), nullable=False, unique=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("arn", sa.String(1024), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.UniqueConstraint("account", "kind", "name_key"),
    )
    op.create_table(
        "iam_credentials",
        sa.Column("access_key_id", sa.String(32), primary_key=True),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_name", sa.String(128)),
        sa.Column("role_arn", sa.String(1024)),
        sa.Column("session_name", sa.String(128)),
        sa.Column("secret_encrypted", sa.Text, nullable=False),
        sa.Column("session_token_sha256", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_iam_credentials_user", "iam_credentials", ["account", "user_name"])


def downgrade() -> None:
    op.drop_table("iam_credentials")
    op.drop_table("iam_entities")
