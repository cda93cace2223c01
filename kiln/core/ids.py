"""Identifiers Kiln hands out."""

from __future__ import annotations

import secrets
import uuid


def request_id() -> str:
    return str(uuid.uuid4())


def ami_id() -> str:
    return "ami-" + secrets.token_hex(9)[:17]


def prefixed_uuid(prefix: str) -> str:
    """`wf-<uuid>`, `step-<uuid>`, `lce-<uuid>` as Image Builder forms them."""
    return f"{prefix}-{uuid.uuid4()}"
