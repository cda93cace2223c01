"""Image pipelines: a recipe, an infrastructure and optionally a distribution configuration,
workflows and a schedule. Running them is the engine's (StartImagePipelineExecution, #6)."""

from __future__ import annotations

from typing import Any

from kiln.core.arn import ArnError, imagebuilder_arn, parse_imagebuilder_arn
from kiln.core.clock import aws_datetime
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    ResourceAlreadyExistsException,
    ResourceDependencyException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.filters import apply_filters
from kiln.services.imagebuilder.images import IN_PROGRESS, image_summary
from kiln.services.imagebuilder.passrole import require_execution_role
from kiln.services.imagebuilder.pipeline_links import (
    PipelineLinks,
    recipe_member,
    record_links,
    resolve_links,
)
from kiln.services.imagebuilder.pipeline_schedule import checked_schedule, next_run
from kiln.store import resources
from kiln.store.schema import ResourceRow

RESOURCE = "image-pipeline"
MEMBER = "imagePipelineArn"
DEFAULT_TESTS = {"imageTestsEnabled": True, "timeoutMinutes": 720}
_FILTERS = {
    key: (lambda body, key=key: [body.get(key)])
    for key in (
        "description",
        "distributionConfigurationArn",
        "imageRecipeArn",
        "infrastructureConfigurationArn",
        "name",
        "status",
    )
}
_IMAGE_FILTERS = {
    "name": lambda body: [body.get("name")],
    "version": lambda body: [body.get("version")],
}
_SETTINGS = (
    "description",
    "imageRecipeArn",
    "containerRecipeArn",
    "infrastructureConfigurationArn",
    "distributionConfigurationArn",
    "imageScanningConfiguration",
    "imageTags",
    "executionRole",
    "workflows",
    "loggingConfiguration",
)


def create_image_pipeline(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = str(
        imagebuilder_arn(
            region=ctx.region, account=ctx.account, resource_type=RESOURCE, name=params["name"]
        )
    )
    links = resolve_links(ctx, params)
    if resources.by_arn(ctx.session, arn) is not None:
        raise ResourceAlreadyExistsException(f"The image pipeline '{arn}' already exists.")
    body = {
        "arn": arn,
        "name": params["name"],
        **_settings(ctx, params, links),
        "dateCreated": aws_datetime(ctx.now),
    }
    row = resources.add(
        ctx.session,
        ctx.scope,
        resource_type=RESOURCE,
        arn=arn,
        name=params["name"],
        arn_name=arn.rsplit("/", 1)[1],
        body=_compact(body),
        tags=params.get("tags") or {},
        now=ctx.now,
        status=body["status"],
    )
    record_links(ctx, row.arn, links)
    return {"clientToken": params.get("clientToken"), MEMBER: arn}


def get_image_pipeline(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"imagePipeline": _view(ctx, _find(ctx, params[MEMBER]))}


def update_image_pipeline(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _find(ctx, params[MEMBER])
    member = recipe_member(params)
    if member not in row.body:
        raise InvalidParameterCombinationException(
            f"The image pipeline '{row.arn}' builds from a "
            f"{'container' if 'containerRecipeArn' in row.body else 'image'} recipe; an update "
            f"cannot switch it to '{member}'."
        )
    links = resolve_links(ctx, params)
    kept = ("arn", "name", "dateCreated", "dateLastRun", "lastRunStatus")
    row.body = _compact(
        {
            **{key: row.body.get(key) for key in kept},
            **_settings(ctx, params, links),
            "dateUpdated": aws_datetime(ctx.now),
        }
    )
    row.status = row.body["status"]
    row.updated_at = ctx.now
    record_links(ctx, row.arn, links)
    return {"clientToken": params.get("clientToken"), MEMBER: row.arn}


def delete_image_pipeline(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _find(ctx, params[MEMBER])
    running = [
        image.arn
        for image in _images_of(ctx, row.arn)
        if image.body["state"]["status"] in IN_PROGRESS
    ]
    users = resources.referrers(ctx.session, row.arn)
    if running or users:
        raise ResourceDependencyException(
            f"The image pipeline '{row.arn}' cannot be deleted: "
            + (f"images {', '.join(running)} are still being built" if running else "")
            + ("; " if running and users else "")
            + (f"it is used by {', '.join(users)}" if users else "")
            + "."
        )
    resources.remove(ctx.session, row)
    return {MEMBER: row.arn}


def list_image_pipelines(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = resources.listing(
        ctx.session, resource_type=RESOURCE, region=ctx.region, owners=[ctx.account]
    )
    by_arn = {row.arn: row for row in rows}
    bodies = apply_filters([row.body for row in rows], params.get("filters"), _FILTERS)
    views = [_view(ctx, by_arn[body["arn"]]) for body in sorted(bodies, key=lambda b: b["arn"])]
    page, token = ctx.tokens.page(
        "ListImagePipelines",
        views,
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"imagePipelineList": page, "nextToken": token}


def list_image_pipeline_images(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pipeline = _find(ctx, params[MEMBER])
    rows = _images_of(ctx, pipeline.arn)
    by_arn = {row.arn: row for row in rows}
    bodies = apply_filters([row.body for row in rows], params.get("filters"), _IMAGE_FILTERS)
    page, token = ctx.tokens.page(
        "ListImagePipelineImages",
        [image_summary(by_arn[body["arn"]]) for body in bodies],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"imageSummaryList": page, "nextToken": token}


def _settings(ctx: RequestContext, params: dict[str, Any], links: PipelineLinks) -> dict[str, Any]:
    """The members a Create or Update request sets (Update replaces them all, as AWS does)."""
    if params.get("executionRole"):
        require_execution_role(ctx, params["executionRole"], member="executionRole")
    settings = {key: params.get(key) for key in _SETTINGS}
    enhanced = params.get("enhancedImageMetadataEnabled")
    settings.update(
        platform=links.recipe.body.get("platform"),
        imageTestsConfiguration={**DEFAULT_TESTS, **(params.get("imageTestsConfiguration") or {})},
        enhancedImageMetadataEnabled=True if enhanced is None else enhanced,
        schedule=checked_schedule(params.get("schedule")),
        status=params.get("status") or "ENABLED",
    )
    return settings


def _view(ctx: RequestContext, row: ResourceRow) -> dict[str, Any]:
    return _compact(
        {**row.body, "dateNextRun": next_run(row.body, ctx.now), "tags": row.tags or None}
    )


def _find(ctx: RequestContext, arn: str) -> ResourceRow:
    try:
        parse_imagebuilder_arn(arn, resource_type=RESOURCE)
    except ArnError as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter '{MEMBER}' is not valid. {exc}"
        ) from exc
    row = resources.by_arn(ctx.session, arn)
    if row is None or row.account != ctx.account or row.region != ctx.region:
        raise ResourceNotFoundException(f"The image pipeline '{arn}' does not exist.")
    return row


def _images_of(ctx: RequestContext, pipeline_arn: str) -> list[ResourceRow]:
    rows = resources.listing(
        ctx.session, resource_type="image", region=ctx.region, owners=[ctx.account]
    )
    return [row for row in rows if row.body.get("sourcePipelineArn") == pipeline_arn]


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
