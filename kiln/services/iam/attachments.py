"""Managed policies attached to users and roles: Attach/Detach/ListAttached{User,Role}Policies.

A user or role holds at most ten managed policies (IAM's default quota); service-linked roles are
changed only by their service.
"""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.iam import lookup, policies, shapes
from kiln.services.iam.entities import attach
from kiln.services.iam.errors import LimitExceededException, NoSuchEntityException
from kiln.services.iam.paging import page
from kiln.store.schema import IamEntityRow

MAX_ATTACHED = 10


def _attach(ctx: RequestContext, row: IamEntityRow, arn: str, quota: str) -> None:
    ref = policies.attachable(ctx, arn)
    attached = row.body.get("attachedPolicies", [])
    if ref.arn not in attached and len(attached) >= MAX_ATTACHED:
        raise LimitExceededException(f"Cannot exceed quota for {quota}: {MAX_ATTACHED}")
    attach(row, ref.arn)


def _detach(row: IamEntityRow, arn: str) -> None:
    lookup.parse_arn(arn)
    attached = list(row.body.get("attachedPolicies", []))
    if arn not in attached:
        raise NoSuchEntityException(f"Policy {arn} was not found.")
    attached.remove(arn)
    row.body = {**row.body, "attachedPolicies": attached}


def _listing(
    ctx: RequestContext, operation: str, row: IamEntityRow, params: dict[str, Any]
) -> dict[str, Any]:
    prefix = params.get("PathPrefix", "/")
    arns = [
        arn
        for arn in row.body.get("attachedPolicies", [])
        if (ref := policies.find(ctx, arn)) is None or ref.path.startswith(prefix)
    ]
    items, marker = page(ctx, operation, arns, params)
    return shapes.page_output("AttachedPolicies", [shapes.attached(a) for a in items], marker)


def attach_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _attach(ctx, lookup.user(ctx, params["UserName"]), params["PolicyArn"], "PoliciesPerUser")
    return {}


def detach_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _detach(lookup.user(ctx, params["UserName"]), params["PolicyArn"])
    return {}


def list_attached_user_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.user(ctx, params["UserName"])
    return _listing(ctx, "ListAttachedUserPolicies", row, params)


def attach_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.modifiable_role(ctx, params["RoleName"])
    _attach(ctx, row, params["PolicyArn"], "PoliciesPerRole")
    return {}


def detach_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _detach(lookup.modifiable_role(ctx, params["RoleName"]), params["PolicyArn"])
    return {}


def list_attached_role_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.role(ctx, params["RoleName"])
    return _listing(ctx, "ListAttachedRolePolicies", row, params)
