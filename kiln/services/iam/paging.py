"""IAM's pagination (Marker / MaxItems / IsTruncated) over Kiln's signed page tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from kiln.core.pagination import InvalidPaginationTokenException
from kiln.services.context import RequestContext
from kiln.services.iam.errors import ValidationError

T = TypeVar("T")

DEFAULT_MAX_ITEMS = 100


def page(
    ctx: RequestContext, operation: str, items: Sequence[T], params: dict[str, Any]
) -> tuple[list[T], str | None]:
    """One page of `items` for `params` (MaxItems, Marker) and the Marker of the next one."""
    try:
        return ctx.tokens.page(
            operation,
            items,
            max_results=params.get("MaxItems"),
            next_token=params.get("Marker"),
            default_size=DEFAULT_MAX_ITEMS,
        )
    except InvalidPaginationTokenException as exc:
        raise ValidationError("Invalid value for Marker: the marker is not valid.") from exc
