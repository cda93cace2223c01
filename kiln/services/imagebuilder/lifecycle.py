"""Lifecycle policies: rules that deprecate, disable or delete images and their AMIs (what a
policy selects: lifecycle_select and lifecycle_leftovers; running it: lifecycle_runs, daily
from the scheduler; acting: lifecycle_apply and lifecycle_amis)."""

from __future__ import annotations

from typing import Any

from kiln.core.arn import ArnError, imagebuilder_arn, parse_imagebuilder_arn
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.filters import apply_filters
from kiln.services.imagebuilder.lifecycle_rules import check_policy
from kiln.services.imagebuilder.passrole import require_execution_role
from kiln.store import resources
from kiln.store.schema import ResourceRow

RESOURCE = "lifecycle-policy"
_FILTERS = {
    "name": lambda body: [body.get("name")],
    "Name": lambda body: [body.get("name")],
    "status": lambda body: [body.get("status")],
    "Status": lambda body: [body.get("status")],
}
_SETTINGS = (
    "description",
    "status",
    "executionRole",
    "resourceType",
    "policyDetails",
    "resourceSelection",
)
_SUMMARY_KEYS = (
    "arn",
    "name",
    "description",
    "status",
    "executionRole",
    "resourceType",
    "dateCreated",
    "dateUpdated",
    "dateLastRun",
)


def create_lifecycle_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_policy(params)
    arn = str(
        imagebuilder_arn(
            region=ctx.region, account=ctx.account, resource_type=RESOURCE, name=params["name"]
        )
    )
    if resources.by_arn(ctx.session, arn) is not None:
        raise ResourceAlreadyExistsException(f"The lifecycle policy '{arn}' already exists.")
    require_execution_role(ctx, params["executionRole"], member="executionRole")
    now = ctx.now.timestamp()
    body = {"arn": arn, "name": params["name"], **_settings(params), "dateCreated": now}
    resources.add(
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
    return {"clientToken": params.get("clientToken"), "lifecyclePolicyArn": arn}


def get_lifecycle_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _find(ctx, params["lifecyclePolicyArn"])
    return {"lifecyclePolicy": {**row.body, "tags": row.tags or None}}


def update_lifecycle_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _find(ctx, params["lifecyclePolicyArn"])
    check_policy(params)
    require_execution_role(ctx, params["executionRole"], member="executionRole")
    kept = {key: row.body.get(key) for key in ("arn", "name", "dateCreated", "dateLastRun")}
    row.body = _compact({**kept, **_settings(params), "dateUpdated": ctx.now.timestamp()})
    row.status = row.body["status"]
    row.updated_at = ctx.now
    return {"lifecyclePolicyArn": row.arn}


def delete_lifecycle_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _find(ctx, params["lifecyclePolicyArn"])
    versions.remove_unused(ctx, row, noun="lifecycle policy")
    return {"lifecyclePolicyArn": row.arn}


def list_lifecycle_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = resources.listing(
        ctx.session, resource_type=RESOURCE, region=ctx.region, owners=[ctx.account]
    )
    tags = {row.arn: row.tags for row in rows}
    bodies = apply_filters([row.body for row in rows], params.get("filters"), _FILTERS)
    summaries = [
        _compact({**{k: body.get(k) for k in _SUMMARY_KEYS}, "tags": tags[body["arn"]] or None})
        for body in sorted(bodies, key=lambda b: b["name"].lower())
    ]
    page, token = ctx.tokens.page(
        "ListLifecyclePolicies",
        summaries,
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"lifecyclePolicySummaryList": page, "nextToken": token}


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    settings = {key: params.get(key) for key in _SETTINGS}
    settings["status"] = settings["status"] or "ENABLED"
    return settings


def _find(ctx: RequestContext, arn: str) -> ResourceRow:
    try:
        parse_imagebuilder_arn(arn, resource_type=RESOURCE)
    except ArnError as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'lifecyclePolicyArn' is not valid. {exc}"
        ) from exc
    row = resources.by_arn(ctx.session, arn)
    if row is None or row.account != ctx.account or row.region != ctx.region:
        raise ResourceNotFoundException(f"The lifecycle policy '{arn}' does not exist.")
    return row


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
