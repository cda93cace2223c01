"""Resource policies: sharing components, images, image recipes and container recipes.

The policy text is kept on the resource row; `versions.visible` / `rows_for_owner(Shared)` read
it, so a policy naming an account makes the resource visible to that account's Get and List.
"""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    ForbiddenException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.policy_documents import validate_policy
from kiln.store.schema import ResourceRow


def put_component_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"componentArn": _put(ctx, params, "component", "componentArn")}


def get_component_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"policy": _get(ctx, params, "component", "componentArn")}


def put_image_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"imageArn": _put(ctx, params, "image", "imageArn")}


def get_image_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"policy": _get(ctx, params, "image", "imageArn")}


def put_image_recipe_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"imageRecipeArn": _put(ctx, params, "image-recipe", "imageRecipeArn")}


def get_image_recipe_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"policy": _get(ctx, params, "image-recipe", "imageRecipeArn")}


def put_container_recipe_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"containerRecipeArn": _put(ctx, params, "container-recipe", "containerRecipeArn")}


def get_container_recipe_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"policy": _get(ctx, params, "container-recipe", "containerRecipeArn")}


def _put(ctx: RequestContext, params: dict[str, Any], resource_type: str, member: str) -> str:
    arn = versions.parse(params[member], resource_type, member=member)
    if not arn.is_exact_version:
        raise InvalidParameterValueException(
            f"The value supplied for parameter '{member}' must name one version, not "
            f"'{arn.version}'."
        )
    row = _owned(ctx, versions.resolve(ctx, arn), member)
    policy = str(params["policy"])
    validate_policy(policy, resource_type=resource_type, resource_arn=row.arn)
    # IAM: imagebuilder:Put*Policy on the resource is evaluated before this point.
    row.policy = policy
    row.updated_at = ctx.now
    return row.arn


def _get(ctx: RequestContext, params: dict[str, Any], resource_type: str, member: str) -> str:
    arn = versions.parse(params[member], resource_type, member=member)
    row = _owned(ctx, versions.resolve(ctx, arn), member)
    if row.policy is None:
        raise ResourceNotFoundException(f"The resource '{row.arn}' has no resource policy.")
    return row.policy


def _owned(ctx: RequestContext, row: ResourceRow, member: str) -> ResourceRow:
    if row.owner != ctx.account:
        raise ForbiddenException(
            f"The resource '{row.arn}' ({member}) is owned by {row.owner}: only its owner "
            "reads or changes its resource policy."
        )
    return row
