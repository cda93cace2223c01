"""Image recipes: parent image + components → the recipe of a VM image."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kiln.core.clock import aws_datetime
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import InvalidParameterValueException
from kiln.services.imagebuilder.recipe_components import (
    check_compatibility,
    recipe_platform,
    resolve_components,
)
from kiln.services.imagebuilder.recipe_devices import check_block_device_mappings
from kiln.services.imagebuilder.recipe_parents import image_recipe_parent
from kiln.services.imagebuilder.recipe_store import (
    RecipeFamily,
    new_recipe_arn,
    pick,
    view,
)
from kiln.store.schema import ResourceRow

RESOURCE = "image-recipe"
MEMBER = "imageRecipeArn"
MAX_USER_DATA_BYTES = 16 * 1024
_FILTERS = {
    "name": lambda body: [body.get("name")],
    "parentImage": lambda body: [body.get("parentImage")],
    "platform": lambda body: [body.get("platform")],
}
_SUMMARY = ("arn", "name", "platform", "owner", "parentImage", "dateCreated", "tags")


def create_image_recipe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn, version = new_recipe_arn(
        ctx, RESOURCE, name=params["name"], semantic_version=params["semanticVersion"]
    )
    parent = image_recipe_parent(ctx, params["parentImage"])
    components = resolve_components(ctx, params.get("components"))
    platform = recipe_platform(parent, components)
    check_compatibility(parent, platform, components)
    check_block_device_mappings(params.get("blockDeviceMappings"))
    _check_user_data(params.get("additionalInstanceConfiguration"))
    body = {
        "arn": str(arn),
        "type": "AMI",
        "name": params["name"],
        "description": params.get("description"),
        "platform": platform,
        "owner": ctx.account,
        "version": str(version),
        "components": params.get("components"),
        "parentImage": params["parentImage"],
        "blockDeviceMappings": params.get("blockDeviceMappings"),
        "dateCreated": aws_datetime(ctx.now),
        "workingDirectory": params.get("workingDirectory"),
        "additionalInstanceConfiguration": params.get("additionalInstanceConfiguration"),
        "amiTags": params.get("amiTags"),
        "amiWatermarks": params.get("amiWatermarks"),
    }
    return FAMILY.created(
        ctx, arn=arn, version=version, params=params, body=body, components=components
    )


def image_recipe_view(row: ResourceRow) -> dict[str, Any]:
    """The ImageRecipe shape (for Get, and for images that embed it)."""
    return view(row)


def _check_user_data(configuration: dict[str, Any] | None) -> None:
    text = (configuration or {}).get("userDataOverride")
    if text is None:
        return
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValueException(
            "additionalInstanceConfiguration.userDataOverride must be base64-encoded user data."
        ) from exc
    if not raw.strip():
        raise InvalidParameterValueException(
            "additionalInstanceConfiguration.userDataOverride decodes to empty user data."
        )
    if len(raw) > MAX_USER_DATA_BYTES:
        raise InvalidParameterValueException(
            f"additionalInstanceConfiguration.userDataOverride decodes to {len(raw)} bytes; "
            f"user data is limited to {MAX_USER_DATA_BYTES} bytes."
        )


FAMILY = RecipeFamily(
    resource_type=RESOURCE,
    member=MEMBER,
    shape="imageRecipe",
    list_operation="ListImageRecipes",
    list_key="imageRecipeSummaryList",
    summary=lambda row: pick(row, _SUMMARY),
    filters=_FILTERS,
)
get_image_recipe = FAMILY.get
delete_image_recipe = FAMILY.delete
list_image_recipes = FAMILY.list
