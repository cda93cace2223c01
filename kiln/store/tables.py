"""Every table Kiln keeps: importing this module puts each schema module's tables on
`Base.metadata` (migrations and tests that clear a database read it from here)."""

from __future__ import annotations

from kiln.store import (  # noqa: F401  (imported for their tables)
    ami_schema,
    engine_schema,
    launch_template_schema,
    lifecycle_schema,
    scan_schema,
)
from kiln.store.schema import Base

__all__ = ["Base"]
