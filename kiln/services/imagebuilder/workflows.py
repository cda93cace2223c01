"""Workflow documents as versioned resources (the engine runs them).

A workflow's ARN carries its type: `.../workflow/build/NAME/1.0.0/1`. The same name may exist
once per type. AWS-managed workflows are rows owned by `aws` (see workflow_managed).
"""

from __future__ import annotations

from typing import Any

from kiln.core.arn import ImageBuilderArn, imagebuilder_arn
from kiln.core.errors import ClientError
from kiln.core.semver import Version
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    InvalidVersionNumberException,
    ResourceAlreadyExistsException,
)
from kiln.services.imagebuilder.filters import apply_filters
from kiln.services.imagebuilder.uris import read_document_uri
from kiln.services.imagebuilder.workflow_documents import workflow_body
from kiln.services.imagebuilder.workflow_managed import ensure_managed_workflows
from kiln.store import resources
from kiln.store.schema import ResourceRow
from kiln.workflow import WorkflowDocument, parse_workflow

RESOURCE = "workflow"
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
    data = _document_text(ctx, params)
    version = _version(params["semanticVersion"])
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
    build = resources.next_build(ctx.session, str(version_arn))
    arn = version_arn.with_version(str(version), build)
    body = workflow_body(
        arn=str(arn),
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
    )
    row = resources.add(
        ctx.session,
        ctx.scope,
        resource_type=RESOURCE,
        arn=str(arn),
        name=params["name"],
        arn_name=arn.name,
        body=body,
        tags=params.get("tags") or {},
        now=ctx.now,
        version=version,
        build=build,
    )
    return {
        "clientToken": params.get("clientToken"),
        "workflowBuildVersionArn": str(arn),
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
    page, token = ctx.tokens.page(
        "ListWorkflows",
        [_version_entry(body) for body in bodies],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
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
    page, token = ctx.tokens.page(
        "ListWorkflowBuildVersions",
        [_summary(row) for row in rows],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
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


def _document_text(ctx: RequestContext, params: dict[str, Any]) -> str:
    data, uri = params.get("data"), params.get("uri")
    if data and uri:
        raise InvalidParameterCombinationException(
            "You can specify either 'data' or 'uri' for a workflow, not both."
        )
    if uri:
        data = read_document_uri(ctx, str(uri), member="uri")
    if not data:
        raise InvalidParameterValueException(
            "A workflow needs a document: specify 'data' (inline YAML) or 'uri'."
        )
    return str(data)


def _version(text: str) -> Version:
    try:
        return Version.parse(text)
    except ValueError as exc:
        raise InvalidVersionNumberException(str(exc)) from exc


def _references(row: ResourceRow) -> dict[str, Any]:
    return versions.latest_version_references(row, kind=row.body["type"].lower())


def _version_entry(body: dict[str, Any]) -> dict[str, Any]:
    entry = {key: body.get(key) for key in ("name", "version", "description", "type", "owner")}
    entry["arn"] = body["arn"].rsplit("/", 1)[0]
    entry["dateCreated"] = body.get("dateCreated")
    return {k: v for k, v in entry.items() if v is not None}


def _summary(row: ResourceRow) -> dict[str, Any]:
    keys = (
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
    summary = {key: row.body.get(key) for key in keys}
    summary["tags"] = row.tags or None
    return {k: v for k, v in summary.items() if v is not None}
