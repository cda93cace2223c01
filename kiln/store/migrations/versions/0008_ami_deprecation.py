"""An AMI's deprecation time (kiln.store.ami_schema: `amis.deprecation_time`).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("amis") as batch:
        batch.add_column(sa.Column("deprecation_time", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_amis_deprecation", ["deprecation_time"])


def downgrade() -> None:
    with op.batch_alter_table("amis") as batch:
        batch.drop_index("ix_amis_deprecation")
        batch.drop_column("deprecation_time")
