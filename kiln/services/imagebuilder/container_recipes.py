"""Container recipes: parent image + components + Dockerfile template → a container image."""

from __future__ import annotations

import re
from typing import Any

from kiln.core.clock import aws_datetime
from kiln.core.dockerfile import validate_template
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    InvalidRequestException,
)
from kiln.services.imagebuilder.recipe_components import (
    check_compatibility,
    recipe_platform,
    resolve_components,
)
from kiln.services.imagebuilder.recipe_devices import check_block_device_mappings
from kiln.services.imagebuilder.recipe_parents import (
    ParentFacts,
    container_recipe_parent,
    image_recipe_parent,
)
from kiln.services.imagebuilder.recipe_store import (
    RecipeFamily,
    new_recipe_arn,
    pick,
    view,
)
from kiln.services.imagebuilder.uris import read_document_uri
from kiln.store.schema import ResourceRow

RESOURCE = "container-recipe"
MEMBER = "containerRecipeArn"
_FILTERS = {
    "containerType": lambda body: [body.get("containerType")],
    "name": lambda body: [body.get("name")],
    "parentImage": lambda body: [body.get("parentImage")],
    "platform": lambda body: [body.get("platform")],
}
_SUMMARY = (
    "arn",
    "containerType",
    "name",
    "platform",
    "owner",
    "parentImage",
    "dateCreated",
    "tags",
)
# ECR repository names: lowercase path components separated by `/`, 2 to 256 characters.
_REPOSITORY = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def create_container_recipe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn, version = new_recipe_arn(
        ctx, RESOURCE, name=params["name"], semantic_version=params["semanticVersion"]
    )
    template = _template(ctx, params)
    check_target_repository(params["targetRepository"], member="targetRepository")
    parent = container_recipe_parent(ctx, params["parentImage"])
    if params.get("platformOverride") or params.get("imageOsVersionOverride"):
        parent = ParentFacts(
            params.get("platformOverride") or parent.platform,
            params.get("imageOsVersionOverride") or parent.os_version,
        )
    components = resolve_components(ctx, params.get("components"))
    platform = recipe_platform(parent, components)
    check_compatibility(parent, platform, components)
    instance = params.get("instanceConfiguration")
    _check_instance_configuration(ctx, instance)
    body = {
        "arn": str(arn),
        "containerType": params["containerType"],
        "name": params["name"],
        "description": params.get("description"),
        "platform": platform,
        "owner": ctx.account,
        "version": str(version),
        "components": params.get("components"),
        "instanceConfiguration": instance,
        "dockerfileTemplateData": template,
        "kmsKeyId": params.get("kmsKeyId"),
        "encrypted": True,
        "parentImage": params["parentImage"],
        "dateCreated": aws_datetime(ctx.now),
        "workingDirectory": params.get("workingDirectory"),
        "targetRepository": params["targetRepository"],
    }
    return FAMILY.created(
        ctx, arn=arn, version=version, params=params, body=body, components=components
    )


def container_recipe_view(row: ResourceRow) -> dict[str, Any]:
    """The ContainerRecipe shape (for Get, and for images that embed it)."""
    return view(row)


def check_target_repository(target: dict[str, Any], *, member: str) -> None:
    """A TargetContainerRepository: ECR, with a valid repository name."""
    name = str(target.get("repositoryName", ""))
    if not (2 <= len(name) <= 256 and _REPOSITORY.match(name)):
        raise InvalidParameterValueException(
            f"{member}.repositoryName '{name}' is not a valid repository name: 2 to 256 "
            "lowercase letters, digits and . _ - /, each path part starting and ending with a "
            "letter or digit."
        )


def _summary(row: ResourceRow) -> dict[str, Any]:
    summary = pick(row, _SUMMARY)
    image = (row.body.get("instanceConfiguration") or {}).get("image")
    if image:
        summary["instanceImage"] = image
    return summary


def _template(ctx: RequestContext, params: dict[str, Any]) -> str:
    data, uri = params.get("dockerfileTemplateData"), params.get("dockerfileTemplateUri")
    if data and uri:
        raise InvalidParameterCombinationException(
            "Specify either dockerfileTemplateData or dockerfileTemplateUri, not both."
        )
    if uri:
        data = read_document_uri(ctx, str(uri), member="dockerfileTemplateUri")
    if not data:
        raise InvalidRequestException(
            "A container recipe needs a Dockerfile template: specify dockerfileTemplateData "
            "or dockerfileTemplateUri."
        )
    validate_template(str(data))
    return str(data)


def _check_instance_configuration(ctx: RequestContext, instance: dict[str, Any] | None) -> None:
    if not instance:
        return
    image = instance.get("image")
    if image is not None:
        if image.startswith("arn:"):
            raise InvalidParameterValueException(
                f"instanceConfiguration.image '{image}' must be an AMI ID or an SSM parameter "
                "(ssm:NAME), not an ARN."
            )
        image_recipe_parent(ctx, image)
    check_block_device_mappings(instance.get("blockDeviceMappings"))


FAMILY = RecipeFamily(
    resource_type=RESOURCE,
    member=MEMBER,
    shape="containerRecipe",
    list_operation="ListContainerRecipes",
    list_key="containerRecipeSummaryList",
    summary=_summary,
    filters=_FILTERS,
)
get_container_recipe = FAMILY.get
delete_container_recipe = FAMILY.delete
list_container_recipes = FAMILY.list
