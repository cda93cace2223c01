"""Alembic environment: runs on the connection Kiln hands over (see kiln.store.database)."""

from __future__ import annotations

from alembic import context

import kiln.store.engine_schema  # noqa: F401  (the engine's tables join Base.metadata)
from kiln.store import ami_schema, lifecycle_schema  # noqa: F401  (their tables join Base.metadata)
from kiln.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
