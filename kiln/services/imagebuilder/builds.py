"""Image builds through the API: CreateImage, pipeline executions, cancel, retry, and the
workflow/step execution views. These write intent (the image row and its work item, in the
request's transaction); the executor does the building.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from kiln.core.arn import imagebuilder_arn
from kiln.core.clock import aws_datetime
from kiln.engine import executions, queue, status
from kiln.engine.plan import (
    AmiTarget,
    BuildPlan,
    ContainerTarget,
    PlannedComponent,
    PlannedWorkflow,
)
from kiln.engine.queue import WorkKind
from kiln.engine.status import IllegalTransitionError, ImageStatus
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.images import record_image
from kiln.services.imagebuilder.pipeline_links import PipelineLinks, resolve_links
from kiln.services.imagebuilder.pipeline_schedule import record_run
from kiln.services.imagebuilder.recipe_components import resolve_components
from kiln.services.imagebuilder.recipe_parents import build_parent
from kiln.services.imagebuilder.recipe_store import view
from kiln.services.imagebuilder.workflow_managed import ensure_managed_workflows
from kiln.store import resources
from kiln.store.engine_schema import (
    ImagePackageRow,
    StepExecutionRow,
    WorkflowExecutionRow,
    WorkItemRow,
)
from kiln.store.schema import ResourceRow

IMAGE = "image"
_DEFAULTS = {
    ("DOCKER", "BUILD"): "build-container",
    ("DOCKER", "TEST"): "test-container",
    ("DOCKER", "DISTRIBUTION"): "distribute-container",
    ("AMI", "BUILD"): "build-image",
    ("AMI", "TEST"): "test-image",
    ("AMI", "DISTRIBUTION"): "distribute-image",
}
_TYPES = ("BUILD", "TEST", "DISTRIBUTION")
_COPIED = (
    "imageTestsConfiguration",
    "imageScanningConfiguration",
    "workflows",
    "executionRole",
    "loggingConfiguration",
)


# -- starting builds ---------------------------------------------------------------------------


def create_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = _start(ctx, params, tags=params.get("tags"), pipeline_arn=None)
    return {"clientToken": params.get("clientToken"), "imageBuildVersionArn": arn}


def start_image_pipeline_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pipeline_arn = params["imagePipelineArn"]
    pipeline = resources.by_arn(ctx.session, pipeline_arn)
    if (
        pipeline is None
        or pipeline.resource_type != "image-pipeline"
        or pipeline.account != ctx.account
        or pipeline.region != ctx.region
    ):
        raise ResourceNotFoundException(f"The image pipeline '{pipeline_arn}' does not exist.")
    if pipeline.body.get("status") == "DISABLED":
        raise ResourceInUseException(f"The image pipeline '{pipeline_arn}' is disabled.")
    tags = {**(pipeline.body.get("imageTags") or {}), **(params.get("tags") or {})}
    arn = _start(ctx, dict(pipeline.body), tags=tags or None, pipeline_arn=pipeline_arn)
    record_run(pipeline, at=ctx.now, status="PENDING")
    return {"clientToken": params.get("clientToken"), "imageBuildVersionArn": arn}


def _start(
    ctx: RequestContext, params: dict[str, Any], *, tags: Any, pipeline_arn: str | None
) -> str:
    links = resolve_links(ctx, params)
    container = links.recipe_member == "containerRecipeArn"
    recipe = links.recipe.body
    tests = {"imageTestsEnabled": True, "timeoutMinutes": 720}
    tests.update(params.get("imageTestsConfiguration") or {})
    body: dict[str, Any] = {key: params.get(key) for key in _COPIED}
    body.update(
        name=recipe["name"],
        version=recipe["version"],
        type="DOCKER" if container else "AMI",
        platform=recipe.get("platform"),
        imageTestsConfiguration=tests,
        enhancedImageMetadataEnabled=params.get("enhancedImageMetadataEnabled", True),
        infrastructureConfiguration=_compact(links.infrastructure.body),
        distributionConfiguration=_compact(links.distribution.body) if links.distribution else None,
        sourcePipelineArn=pipeline_arn,
        buildType="SCHEDULED" if pipeline_arn and params.get("scheduled") else "USER_INITIATED",
        tags=tags,
    )
    body["containerRecipe" if container else "imageRecipe"] = view(links.recipe)
    plan = _plan(ctx, links, params, tests_enabled=bool(tests["imageTestsEnabled"]))
    row = record_image(ctx.session, ctx.scope, body=body, now=ctx.now)
    if pipeline_arn:
        resources.add_reference(ctx.session, ctx.scope, source_arn=row.arn, target_arn=pipeline_arn)
    queue.enqueue(
        ctx.session, kind=WorkKind.BUILD, subject=row.arn, now=ctx.now,
        payload={"plan": plan.to_payload()},
    )  # fmt: skip
    return row.arn


def _plan(
    ctx: RequestContext, links: PipelineLinks, params: dict[str, Any], *, tests_enabled: bool
) -> BuildPlan:
    recipe = links.recipe.body
    image_type = "DOCKER" if links.recipe_member == "containerRecipeArn" else "AMI"
    components = tuple(
        PlannedComponent(
            arn=c.row.arn,
            name=str(c.row.body.get("name")),
            data=str(c.row.body.get("data") or ""),
            parameters={
                str(p["name"]): ",".join(str(v) for v in p.get("value") or [])
                for p in c.configuration.get("parameters") or []
            },
        )
        for c in resolve_components(ctx, recipe.get("components"))
    )
    infra = links.infrastructure.body
    s3_logs = (infra.get("logging") or {}).get("s3Logs") or {}
    return BuildPlan(
        image_type=image_type,
        parent_image=_parent(ctx, str(recipe.get("parentImage")), image_type),
        components=components,
        workflows=_workflows(ctx, links, params, image_type, tests_enabled=tests_enabled),
        dockerfile_template=recipe.get("dockerfileTemplateData"),
        instance_types=tuple(infra.get("instanceTypes") or ()),
        terminate_on_failure=infra.get("terminateInstanceOnFailure") is not False,
        working_directory=recipe.get("workingDirectory") or "/tmp",
        platform=str(recipe.get("platform") or "Linux"),
        container_targets=_targets(ctx, links) if image_type == "DOCKER" else (),
        ami_targets=ami_targets(links.distribution) if image_type == "AMI" else (),
        collect_metadata=params.get("enhancedImageMetadataEnabled", True) is not False,
        instance_profile=infra.get("instanceProfileName"),
        recipe_arn=links.recipe.arn,
        log_bucket=s3_logs.get("s3BucketName"),
        log_prefix=str(s3_logs.get("s3KeyPrefix") or ""),
        scan_findings=bool(
            (params.get("imageScanningConfiguration") or {}).get("imageScanningEnabled")
        ),
    )


def _parent(ctx: RequestContext, parent: str, image_type: str) -> str:
    """An AMI build starts from the AMI its parent resolves to now (kiln recipe_parents)."""
    return build_parent(ctx, parent) if image_type == "AMI" else parent


def _workflows(
    ctx: RequestContext,
    links: PipelineLinks,
    params: dict[str, Any],
    image_type: str,
    *,
    tests_enabled: bool,
) -> tuple[PlannedWorkflow, ...]:
    configured = params.get("workflows") or []
    chosen: list[PlannedWorkflow] = []
    for row, configuration in zip(links.workflows, configured, strict=True):
        chosen.append(
            PlannedWorkflow(
                type=str(row.body["type"]),
                arn=row.arn,
                data=str(row.body["data"]),
                parameters={
                    p["name"]: p.get("value") for p in configuration.get("parameters") or []
                },
                on_failure=str(configuration.get("onFailure") or "ABORT"),
                parallel_group=configuration.get("parallelGroup"),
            )
        )
    given = {w.type for w in chosen}
    for kind in _TYPES:
        name = _DEFAULTS.get((image_type, kind))
        if kind in given or name is None or (kind == "TEST" and not tests_enabled):
            continue
        chosen.append(managed_workflow(ctx, name, kind))
    if not tests_enabled:
        chosen = [w for w in chosen if w.type != "TEST"]
    return tuple(sorted(chosen, key=lambda w: _TYPES.index(w.type)))


def managed_workflow(ctx: RequestContext, name: str, kind: str) -> PlannedWorkflow:
    ensure_managed_workflows(ctx)
    arn = imagebuilder_arn(
        region=ctx.region, account=versions.AMAZON_OWNER, resource_type="workflow", name=name,
        version="1.0.0", build=1, kind=kind.lower(),
    )  # fmt: skip
    row = resources.by_arn(ctx.session, str(arn))
    if row is None:
        raise InvalidRequestException(f"The managed workflow '{arn}' is missing.")
    return PlannedWorkflow(type=kind, arn=row.arn, data=str(row.body["data"]))


def _targets(ctx: RequestContext, links: PipelineLinks) -> tuple[ContainerTarget, ...]:
    targets: list[ContainerTarget] = []
    repository = (links.recipe.body.get("targetRepository") or {}).get("repositoryName")
    if repository:
        targets.append(ContainerTarget(ctx.region, str(repository)))
    distributions = (
        (links.distribution.body.get("distributions") or []) if links.distribution else []
    )
    for distribution in distributions:
        config = distribution.get("containerDistributionConfiguration")
        if not config:
            continue
        target = ContainerTarget(
            region=str(distribution.get("region") or ctx.region),
            repository=str((config.get("targetRepository") or {}).get("repositoryName")),
            tags=tuple(config.get("containerTags") or ()),
        )
        if target not in targets:
            targets.append(target)
    return tuple(targets)


def ami_targets(distribution: ResourceRow | None) -> tuple[AmiTarget, ...]:
    """The regions of a distribution configuration, for an AMI."""
    entries = (distribution.body.get("distributions") or []) if distribution else []
    return tuple(AmiTarget.from_distribution(entry) for entry in entries)


# -- cancel, retry ------------------------------------------------------------------------------


def cancel_image_creation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _own_image(ctx, params["imageBuildVersionArn"])
    current = status.status_of(row)
    if current not in status.IN_PROGRESS:
        raise ResourceInUseException(
            f"The image '{row.arn}' is {current}; only a build in progress can be cancelled."
        )
    status.transition(
        ctx.session, row.arn, ImageStatus.CANCELLED, now=ctx.now,
        reason="The image build was cancelled (CancelImageCreation).",
    )  # fmt: skip
    if not queue.pending_for(ctx.session, row.arn):
        queue.enqueue(  # a parked build: unwind it (roll back, remove its instances)
            ctx.session, kind=WorkKind.BUILD, subject=row.arn, now=ctx.now,
            payload=_latest_payload(ctx, row.arn),
        )  # fmt: skip
    return {"clientToken": params.get("clientToken"), "imageBuildVersionArn": row.arn}


def retry_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _own_image(ctx, params["imageBuildVersionArn"])
    try:
        status.transition(ctx.session, row.arn, ImageStatus.PENDING, now=ctx.now)
    except IllegalTransitionError as exc:
        raise ResourceInUseException(
            f"The image '{row.arn}' is {status.status_of(row)}; only a FAILED image is retried."
        ) from exc
    payload = _latest_payload(ctx, row.arn)
    kept = _kept_for_retry(ctx, row.arn, payload)
    for execution in executions.executions_of(ctx.session, row.arn):
        if execution.id in kept:
            continue
        ctx.session.execute(
            delete(StepExecutionRow).where(StepExecutionRow.execution_id == execution.id)
        )
        ctx.session.delete(execution)
    queue.enqueue(ctx.session, kind=WorkKind.BUILD, subject=row.arn, now=ctx.now, payload=payload)
    return {"clientToken": params.get("clientToken"), "imageBuildVersionArn": row.arn}


def _kept_for_retry(ctx: RequestContext, image_arn: str, payload: dict[str, Any]) -> set[str]:
    """An AMI whose distribution failed is not rebuilt: its completed build and test
    executions stay (their AMI outlives the failure) and only the distribution runs again."""
    if (payload.get("plan") or {}).get("image_type") != "AMI":
        return set()
    rows = executions.executions_of(ctx.session, image_arn)
    unfinished = [row for row in rows if row.status != "COMPLETED"]
    if not unfinished or any(row.type != "DISTRIBUTION" for row in unfinished):
        return set()
    return {row.id for row in rows if row.status == "COMPLETED" and row.type != "DISTRIBUTION"}


def _latest_payload(ctx: RequestContext, image_arn: str) -> dict[str, Any]:
    row = ctx.session.scalars(
        select(WorkItemRow).where(WorkItemRow.subject == image_arn).order_by(WorkItemRow.id.desc())
    ).first()
    if row is None:
        raise InvalidRequestException(f"The image '{image_arn}' was not built by Kiln's engine.")
    return dict(row.payload)


def _own_image(ctx: RequestContext, arn: str) -> ResourceRow:
    member = "imageBuildVersionArn"
    row = versions.resolve(ctx, versions.parse(arn, IMAGE, member=member))
    if row.account != ctx.account:
        raise ResourceNotFoundException(f"The image '{arn}' does not exist.")
    return row


# -- executions ---------------------------------------------------------------------------------


def get_workflow_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _execution(ctx, params["workflowExecutionId"])
    return {"imageBuildVersionArn": row.image_arn, **executions.execution_view(row)}


def list_workflow_executions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    image = _own_image(ctx, params["imageBuildVersionArn"])
    rows = executions.executions_of(ctx.session, image.arn)
    page, token = ctx.tokens.page(
        "ListWorkflowExecutions",
        [executions.execution_view(row) for row in rows],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    state = image.body.get("state") or {}
    return {
        "workflowExecutions": page,
        "imageBuildVersionArn": image.arn,
        "message": state.get("reason"),
        "nextToken": token,
    }


def get_workflow_step_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    step = _step(ctx, params["stepExecutionId"])
    execution = _execution(ctx, step.execution_id)
    return {
        **executions.step_view(step),
        "workflowBuildVersionArn": execution.workflow_arn,
        "workflowExecutionId": execution.id,
        "imageBuildVersionArn": step.image_arn,
        "onFailure": step.on_failure,
        "timeoutSeconds": step.timeout_seconds,
    }


def list_workflow_step_executions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    execution = _execution(ctx, params["workflowExecutionId"])
    rows = executions.steps_of(ctx.session, execution.id)
    page, token = ctx.tokens.page(
        "ListWorkflowStepExecutions",
        [executions.step_view(row) for row in rows],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {
        "steps": page,
        "workflowBuildVersionArn": execution.workflow_arn,
        "workflowExecutionId": execution.id,
        "imageBuildVersionArn": execution.image_arn,
        "message": execution.message,
        "nextToken": token,
    }


def list_waiting_workflow_steps(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    steps = [
        {
            "stepExecutionId": row.id,
            "imageBuildVersionArn": row.image_arn,
            "workflowExecutionId": row.execution_id,
            "workflowBuildVersionArn": _execution(ctx, row.execution_id).workflow_arn,
            "name": row.name,
            "action": row.action,
            "startTime": aws_datetime(row.start_time) if row.start_time else None,
        }
        for row in executions.waiting_steps(ctx.session, ctx.account)
    ]
    page, token = ctx.tokens.page(
        "ListWaitingWorkflowSteps",
        [{k: v for k, v in s.items() if v is not None} for s in steps],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"steps": page, "nextToken": token}


def send_workflow_step_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    step = _step(ctx, params["stepExecutionId"])
    if step.image_arn != params["imageBuildVersionArn"]:
        raise InvalidParameterValueException(
            f"The step '{step.id}' belongs to '{step.image_arn}', not to "
            f"'{params['imageBuildVersionArn']}'."
        )
    if step.action != executions.WAIT_ACTION or step.status != "RUNNING" or step.outputs:
        raise ResourceInUseException(f"The step '{step.id}' is not waiting for an action.")
    step.outputs = executions.dumps(
        {"action": params["action"], "reason": params.get("reason") or ""}
    )
    queue.enqueue(
        ctx.session, kind=WorkKind.BUILD, subject=step.image_arn, now=ctx.now,
        payload=_latest_payload(ctx, step.image_arn),
    )  # fmt: skip
    return {
        "stepExecutionId": step.id,
        "imageBuildVersionArn": step.image_arn,
        "clientToken": params.get("clientToken"),
    }


def list_image_packages(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    image = _own_image(ctx, params["imageBuildVersionArn"])
    row = ctx.session.get(ImagePackageRow, image.arn)
    page, token = ctx.tokens.page(
        "ListImagePackages",
        list(row.packages) if row is not None else [],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"imagePackageList": page, "nextToken": token}


def _execution(ctx: RequestContext, execution_id: str) -> WorkflowExecutionRow:
    row = ctx.session.get(WorkflowExecutionRow, execution_id)
    if row is None or row.account != ctx.account:
        raise ResourceNotFoundException(f"The workflow execution '{execution_id}' does not exist.")
    return row


def _step(ctx: RequestContext, step_id: str) -> StepExecutionRow:
    row = ctx.session.get(StepExecutionRow, step_id)
    if row is None or row.account != ctx.account:
        raise ResourceNotFoundException(f"The workflow step execution '{step_id}' does not exist.")
    return row


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
