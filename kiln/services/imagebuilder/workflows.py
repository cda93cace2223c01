"""Workflow documents as versioned resources (the engine runs them).

A workflow's ARN carries its type: `.../workflow/build/NAME/1.0.0/1`. The same name may exist
once per type. AWS-managed workflows are rows owned by `aws` (see workflow_managed).
"""

from __future__ import annotations

from typing import Any

from kiln.core.arn import ImageBuilderArn, imagebuilder_arn
from kiln.core.errors import ClientError
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versioned, versions
from kiln.services.imagebuilder.errors import (
    ResourceAlreadyExistsException,
)
from kiln.services.imagebuilder.filters import apply_filters
from kiln.services.imagebuilder.workflow_documents import workflow_body
from kiln.services.imagebuilder.workflow_managed import ensure_managed_workflows
from kiln.store import resources
from kiln.store.schema import ResourceRow
from kiln.workflow import WorkflowDocument, parse_workflow

RESOURCE = "workflow"
_VERSION_KEYS = ("name", "version", "description", "type", "owner", "dateCreated")
_SUMMARY_KEYS = (
    "arn",
    "name",
    "version",
    "description",
    "changeDescription",
    "type",
    "owner",
    "state",
    "dateCreated",
)
_FILTERS = {
    "name": lambda body: [body.get("name")],
    "type": lambda body: [body.get("type")],
    "version": lambda body: [body.get("version")],
    "description": lambda body: [body.get("description")],
}


class DryRunOperationException(ClientError):
    """The request would have succeeded; dryRun asked that nothing be changed."""

    code = "DryRunOperationException"
    status = 412


def create_workflow(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    data = versioned.document_text(ctx, params, noun="workflow")
    version = versioned.semantic_version(params["semanticVersion"])
    workflow_type = params["type"]
    document: WorkflowDocument = parse_workflow(data, workflow_type=workflow_type)
    version_arn = imagebuilder_arn(
        region=ctx.region,
        account=ctx.account,
        resource_type=RESOURCE,
        name=params["name"],
        version=str(version),
        kind=workflow_type.lower(),
    )
    if _builds(ctx, version_arn, owner=ctx.account):
        raise ResourceAlreadyExistsException(
            f"The workflow version '{version_arn}' already exists."
        )
    if params.get("dryRun"):
        raise DryRunOperationException(
            "The request would have succeeded, but the dryRun flag is set: nothing was created."
        )
    row = versioned.add_build(
        ctx,
        resource_type=RESOURCE,
        version_arn=version_arn,
        name=params["name"],
        version=version,
        tags=params.get("tags"),
        body=lambda arn: workflow_body(
            arn=arn,
            name=params["name"],
            version=str(version),
            workflow_type=workflow_type,
            owner=ctx.account,
            data=data,
            document=document,
            now=ctx.now,
            description=params.get("description"),
            change_description=params.get("changeDescription"),
            kms_key_id=params.get("kmsKeyId"),
        ),
    )
    return {
        "clientToken": params.get("clientToken"),
        "workflowBuildVersionArn": row.arn,
        "latestVersionReferences": _references(row),
    }


def get_workflow(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ensure_managed_workflows(ctx)
    member = "workflowBuildVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    row = versions.resolve(ctx, arn)
    return {
        "workflow": {**row.body, "tags": row.tags or None},
        "latestVersionReferences": _references(row),
    }


def list_workflows(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ensure_managed_workflows(ctx)
    rows = versions.latest_builds(versions.rows_for_owner(ctx, RESOURCE, params.get("owner")))
    filters = params.get("filters") or []
    if params.get("byName"):
        # byName: the name filter matches all or part of the workflow name.
        parts = [v.lower() for f in filters if f.get("name") == "name" for v in f["values"]]
        filters = [f for f in filters if f.get("name") != "name"]
        rows = [r for r in rows if any(p in r.body["name"].lower() for p in parts)]
    bodies = apply_filters([row.body for row in rows], filters, _FILTERS)
    entries = [versioned.version_entry(body, _VERSION_KEYS) for body in bodies]
    page, token = versioned.page(ctx, "ListWorkflows", entries, params)
    return {"workflowVersionList": page, "nextToken": token}


def list_workflow_build_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ensure_managed_workflows(ctx)
    member = "workflowVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    selector = arn.version
    rows = [
        row
        for row in _builds(ctx, arn, owner=arn.account)
        if versions.visible(ctx, row)
        and (selector is None or selector.matches(versions.version_of(row)))
    ]
    rows.sort(key=lambda r: (versions.version_of(r), r.build or 0))
    summaries = [versioned.summary(row, _SUMMARY_KEYS) for row in rows]
    page, token = versioned.page(ctx, "ListWorkflowBuildVersions", summaries, params)
    return {"workflowSummaryList": page, "nextToken": token}


def delete_workflow(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "workflowBuildVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    row = versions.resolve(ctx, arn)
    versions.require_owner(ctx, row, noun="workflow", named=str(arn))
    versions.remove_unused(ctx, row, noun="workflow")
    return {"workflowBuildVersionArn": row.arn}


def _builds(ctx: RequestContext, arn: ImageBuilderArn, *, owner: str) -> list[ResourceRow]:
    """Rows of one workflow name and type; of one exact version when the ARN has one."""
    exact = str(arn.version) if arn.version is not None and arn.version.is_exact else None
    rows = resources.listing(
        ctx.session,
        resource_type=RESOURCE,
        region=arn.region,
        owners=[owner],
        arn_name=arn.name,
        version=exact,
    )
    return [row for row in rows if row.body.get("type", "").lower() == arn.kind]


def _references(row: ResourceRow) -> dict[str, Any]:
    return versions.latest_version_references(row, kind=row.body["type"].lower())
