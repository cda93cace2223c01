"""Recipes as versioned rows: image recipes and container recipes share how they are named
(`.../image-recipe/NAME/1.0.0`, no build node), found, listed and deleted."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kiln.core.arn import ImageBuilderArn, imagebuilder_arn
from kiln.core.semver import Version
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    InvalidVersionNumberException,
    ResourceAlreadyExistsException,
)
from kiln.services.imagebuilder.filters import Extractor, apply_filters
from kiln.services.imagebuilder.recipe_components import RecipeComponent, record_references
from kiln.store import resources
from kiln.store.schema import ResourceRow

NOUNS = {"image-recipe": "image recipe", "container-recipe": "container recipe"}


def new_recipe_arn(
    ctx: RequestContext, resource_type: str, *, name: str, semantic_version: str
) -> tuple[ImageBuilderArn, Version]:
    """The ARN of a recipe version about to be created; refused when it exists already."""
    try:
        version = Version.parse(semantic_version)
    except ValueError as exc:
        raise InvalidVersionNumberException(
            f"The semantic version '{semantic_version}' of a new {NOUNS[resource_type]} must be "
            f"<major>.<minor>.<patch> without wildcards: {exc}"
        ) from exc
    arn = imagebuilder_arn(
        region=ctx.region,
        account=ctx.account,
        resource_type=resource_type,
        name=name,
        version=str(version),
    )
    if resources.by_arn(ctx.session, str(arn)) is not None:
        raise ResourceAlreadyExistsException(f"The {NOUNS[resource_type]} '{arn}' already exists.")
    return arn, version


def add_recipe(
    ctx: RequestContext,
    resource_type: str,
    *,
    arn: ImageBuilderArn,
    version: Version,
    name: str,
    body: dict[str, Any],
    tags: Mapping[str, str] | None,
) -> ResourceRow:
    return resources.add(
        ctx.session,
        ctx.scope,
        resource_type=resource_type,
        arn=str(arn),
        name=name,
        arn_name=arn.name,
        body=compact(body),
        tags=dict(tags or {}),
        now=ctx.now,
        version=version,
    )


def find_recipe(ctx: RequestContext, resource_type: str, text: str, *, member: str) -> ResourceRow:
    """The recipe an ARN names (x wildcards select the latest version)."""
    return versions.resolve(ctx, versions.parse(text, resource_type, member=member))


def delete_recipe(
    ctx: RequestContext, resource_type: str, text: str, *, member: str
) -> ResourceRow:
    arn = versions.parse(text, resource_type, member=member)
    noun = NOUNS[resource_type]
    if not arn.is_exact_version:
        raise InvalidParameterValueException(
            f"Delete a {noun} by its version ARN (NAME/1.2.3), not by the wildcard '{text}'."
        )
    row = versions.resolve(ctx, arn)
    versions.require_owner(ctx, row, noun=noun, named=str(text))
    versions.remove_unused(ctx, row, noun=noun)
    return row


def list_recipes(
    ctx: RequestContext,
    resource_type: str,
    params: dict[str, Any],
    *,
    operation: str,
    filters: Mapping[str, Extractor],
    summary: Callable[[ResourceRow], dict[str, Any]],
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of summaries of the recipes `owner` selects, filtered, ordered by name+version."""
    rows = sorted(
        versions.rows_for_owner(ctx, resource_type, params.get("owner")),
        key=lambda row: (row.arn_name, versions.version_of(row), row.owner),
    )
    by_arn = {row.arn: row for row in rows}
    bodies = apply_filters([row.body for row in rows], params.get("filters"), filters)
    summaries = [summary(by_arn[body["arn"]]) for body in bodies]
    return ctx.tokens.page(
        operation,
        summaries,
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )


def view(row: ResourceRow) -> dict[str, Any]:
    """The Get* representation: the stored body with the row's current tags."""
    return compact({**row.body, "tags": row.tags or None})


def pick(row: ResourceRow, keys: tuple[str, ...]) -> dict[str, Any]:
    body = view(row)
    return compact({key: body.get(key) for key in keys})


def compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True)
class RecipeFamily:
    """What an image recipe and a container recipe answer alike: the reply to Create, and
    Get, Delete and List."""

    resource_type: str
    member: str
    shape: str
    list_operation: str
    list_key: str
    summary: Callable[[ResourceRow], dict[str, Any]]
    filters: Mapping[str, Extractor]

    def created(
        self,
        ctx: RequestContext,
        *,
        arn: ImageBuilderArn,
        version: Version,
        params: Mapping[str, Any],
        body: dict[str, Any],
        components: Sequence[RecipeComponent],
    ) -> dict[str, Any]:
        """Store a new recipe version with its component references; the Create reply."""
        row = add_recipe(
            ctx,
            self.resource_type,
            arn=arn,
            version=version,
            name=params["name"],
            body=body,
            tags=params.get("tags"),
        )
        record_references(ctx, row.arn, components)
        return {
            "clientToken": params.get("clientToken"),
            self.member: row.arn,
            "latestVersionReferences": versions.latest_version_references(row),
        }

    def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = find_recipe(ctx, self.resource_type, params[self.member], member=self.member)
        return {
            self.shape: view(row),
            "latestVersionReferences": versions.latest_version_references(row),
        }

    def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = delete_recipe(ctx, self.resource_type, params[self.member], member=self.member)
        return {self.member: row.arn}

    def list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        page, token = list_recipes(
            ctx,
            self.resource_type,
            params,
            operation=self.list_operation,
            filters=self.filters,
            summary=self.summary,
        )
        return {self.list_key: page, "nextToken": token}
