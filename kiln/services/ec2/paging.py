"""EC2's pagination: MaxResults (5 to 1000) and NextToken, with Kiln's signed page tokens.

Without MaxResults a describe call answers everything in one page, as EC2 does.
"""

from __future__ import annotations

from typing import Any, TypeVar

from kiln.core.pagination import InvalidPaginationTokenException
from kiln.services.context import RequestContext
from kiln.services.ec2.errors import InvalidPaginationToken, InvalidParameterValue

T = TypeVar("T")
MIN_RESULTS = 5
MAX_RESULTS = 1000


def max_results(params: dict[str, Any], *, wire_name: str = "maxResults") -> int | None:
    value = params.get("MaxResults")
    if value is not None and not MIN_RESULTS <= value <= MAX_RESULTS:
        raise InvalidParameterValue(
            f"Value ( {value} ) for parameter {wire_name} is invalid. "
            f"Expecting a value between {MIN_RESULTS} and {MAX_RESULTS}."
        )
    return int(value) if value is not None else None


def page(
    ctx: RequestContext, operation: str, items: list[T], params: dict[str, Any]
) -> tuple[list[T], str | None]:
    """One page of `items` and the NextToken of the following page (None on the last)."""
    size = max_results(params)
    token = params.get("NextToken")
    try:
        return ctx.tokens.page(
            operation,
            items,
            max_results=size or (MAX_RESULTS if token else max(len(items), 1)),
            next_token=token,
        )
    except InvalidPaginationTokenException as exc:
        raise InvalidPaginationToken(f"Invalid pagination token: {token}") from exc
