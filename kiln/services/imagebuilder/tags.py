"""Tags on every taggable Image Builder resource, addressed by ARN in the path."""

from __future__ import annotations

from typing import Any

from kiln.core.arn import ArnError, parse_imagebuilder_arn
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import (
    InvalidParameterException,
    ResourceNotFoundException,
)
from kiln.store import resources
from kiln.store.schema import ResourceRow

MAX_TAGS = 50


def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _owned(ctx, params["resourceArn"])
    merged = {**(row.tags or {}), **params["tags"]}
    if len(merged) > MAX_TAGS:
        raise InvalidParameterException(
            f"A resource can have at most {MAX_TAGS} tags; this request would give it "
            f"{len(merged)}."
        )
    row.tags = merged
    row.updated_at = ctx.now
    return {}


def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _owned(ctx, params["resourceArn"])
    removed = set(params["tagKeys"])
    row.tags = {k: v for k, v in (row.tags or {}).items() if k not in removed}
    row.updated_at = ctx.now
    return {}


def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _owned(ctx, params["resourceArn"])
    return {"tags": dict(row.tags or {})}


def _owned(ctx: RequestContext, arn: str) -> ResourceRow:
    try:
        parsed = parse_imagebuilder_arn(arn)
    except ArnError as exc:
        raise InvalidParameterException(
            f"The value supplied for parameter 'resourceArn' is not valid. {exc}"
        ) from exc
    row = resources.by_arn(ctx.session, arn)
    if row is None or row.account != ctx.account or parsed.region != ctx.region:
        raise ResourceNotFoundException(f"The resource ARN '{arn}' does not exist.")
    return row
