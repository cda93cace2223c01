"""What a pipeline uses: its recipe, configurations and workflows, resolved and recorded.

Every ARN a pipeline names must resolve in the caller's view (else ResourceNotFoundException
naming it); the rows it resolves to are recorded as references, so deleting a recipe,
configuration or workflow build version a pipeline uses is refused by its owner's Delete*.
Wildcard recipe and workflow ARNs are stored as given and referenced through the version they
select now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiln.core.arn import ArnError, parse_imagebuilder_arn
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.workflow_documents import check_parameters
from kiln.services.imagebuilder.workflow_managed import ensure_managed_workflows
from kiln.store import resources
from kiln.store.schema import ResourceRow

RECIPE_MEMBERS = {"imageRecipeArn": "image-recipe", "containerRecipeArn": "container-recipe"}


@dataclass(frozen=True)
class PipelineLinks:
    """The rows a pipeline's request names, resolved."""

    recipe_member: str
    recipe: ResourceRow
    infrastructure: ResourceRow
    distribution: ResourceRow | None
    workflows: tuple[ResourceRow, ...]

    @property
    def targets(self) -> list[str]:
        rows = [self.recipe, self.infrastructure, self.distribution, *self.workflows]
        return sorted({row.arn for row in rows if row is not None})


def resolve_links(ctx: RequestContext, params: dict[str, Any]) -> PipelineLinks:
    member = recipe_member(params)
    recipe = versions.resolve(
        ctx, versions.parse(params[member], RECIPE_MEMBERS[member], member=member)
    )
    infrastructure = named_row(
        ctx, "infrastructure-configuration", params["infrastructureConfigurationArn"]
    )
    distribution_arn = params.get("distributionConfigurationArn")
    distribution = (
        named_row(ctx, "distribution-configuration", distribution_arn) if distribution_arn else None
    )
    workflows = tuple(workflow_rows(ctx, params.get("workflows") or []))
    return PipelineLinks(member, recipe, infrastructure, distribution, workflows)


def recipe_member(params: dict[str, Any]) -> str:
    given = [member for member in RECIPE_MEMBERS if params.get(member)]
    if len(given) != 1:
        raise InvalidParameterCombinationException(
            "A pipeline builds from exactly one recipe: specify either 'imageRecipeArn' or "
            "'containerRecipeArn'."
        )
    return given[0]


def named_row(ctx: RequestContext, resource_type: str, text: str) -> ResourceRow:
    """An infrastructure or distribution configuration of the caller's account and region."""
    try:
        parse_imagebuilder_arn(text, resource_type=resource_type)
    except ArnError as exc:
        raise InvalidParameterValueException(
            f"'{text}' is not a {resource_type} ARN: {exc}"
        ) from exc
    row = resources.by_arn(ctx.session, text)
    if (
        row is None
        or row.resource_type != resource_type
        or row.account != ctx.account
        or row.region != ctx.region
    ):
        raise ResourceNotFoundException(f"The resource ARN '{text}' does not exist.")
    return row


def workflow_rows(ctx: RequestContext, configurations: list[dict[str, Any]]) -> list[ResourceRow]:
    """The workflow each WorkflowConfiguration names, with its parameters checked."""
    if not configurations:
        return []
    ensure_managed_workflows(ctx)
    rows = []
    for index, configuration in enumerate(configurations):
        member = f"workflows[{index}].workflowArn"
        arn = versions.parse(configuration["workflowArn"], "workflow", member=member)
        row = versions.resolve(ctx, arn)
        check_parameters(row.body, configuration.get("parameters"))
        if configuration.get("parallelGroup") and row.body.get("type") != "TEST":
            raise InvalidParameterValueException(
                f"workflows[{index}]: parallelGroup applies to TEST workflows only; "
                f"'{row.arn}' is a {row.body.get('type')} workflow."
            )
        rows.append(row)
    return rows


def record_links(ctx: RequestContext, source_arn: str, links: PipelineLinks) -> None:
    """Replace the references of `source_arn` by the rows `links` resolved."""
    resources.replace_references(
        ctx.session, ctx.scope, source_arn=source_arn, target_arns=links.targets
    )
