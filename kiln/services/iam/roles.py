"""IAM roles: CreateRole, GetRole, ListRoles, DeleteRole, UpdateRole, UpdateRoleDescription,
UpdateAssumeRolePolicy.

The trust policy is validated as IAM does (kiln.iam.parse_policy with kind TRUST, the 2,048
character quota, and IAM user or role principals of Kiln's accounts must exist). A role cannot
be deleted while it has policies or is in an instance profile (DeleteConflict); service-linked
roles are changed only through CreateServiceLinkedRole / DeleteServiceLinkedRole.
"""

from __future__ import annotations

import re
from typing import Any

from kiln.core.arn import Arn, ArnError
from kiln.iam import MalformedPolicyDocumentError, PolicyKind, parse_policy
from kiln.services.context import RequestContext
from kiln.services.iam import lookup, policies, shapes, tags
from kiln.services.iam.entities import create_role as add_role
from kiln.services.iam.errors import DeleteConflictException, LimitExceededException
from kiln.services.iam.paging import page
from kiln.store import iam as store
from kiln.store.schema import AccountRow, IamEntityRow

TRUST_POLICY_QUOTA = 2048
_WHITESPACE = re.compile(r"\s+")


def checked_trust_policy(ctx: RequestContext, text: str) -> str:
    document = parse_policy(text, kind=PolicyKind.TRUST)
    if len(_WHITESPACE.sub("", text)) > TRUST_POLICY_QUOTA:
        raise LimitExceededException(
            f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_QUOTA}"
        )
    for statement in document.statements:
        spec = statement.principal or statement.not_principal
        for entry in spec.aws if spec is not None else ():
            if not _principal_exists(ctx, entry):
                raise MalformedPolicyDocumentError(f'Invalid principal in policy: "AWS":"{entry}"')
    return text


def _principal_exists(ctx: RequestContext, entry: str) -> bool:
    """False for an IAM user or role ARN of a Kiln account that has no such entity."""
    try:
        arn = Arn.parse(entry)
    except ArnError:
        return True
    if arn.service != "iam" or not arn.resource.startswith(("user/", "role/")):
        return True
    if ctx.session.get(AccountRow, arn.account) is None and arn.account != ctx.account:
        return True
    return store.entity_by_arn(ctx.session, entry) is not None


def profiles_with(ctx: RequestContext, role: IamEntityRow) -> list[IamEntityRow]:
    profiles = store.entities(ctx.session, account=ctx.account, kind=store.INSTANCE_PROFILE)
    return [p for p in profiles if role.name in p.body.get("roles", [])]


def create_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["RoleName"]
    lookup.ensure_absent(ctx, store.ROLE, name)
    trust = checked_trust_policy(ctx, params["AssumeRolePolicyDocument"])
    boundary = params.get("PermissionsBoundary")
    row = add_role(
        ctx.session,
        account=ctx.account,
        name=name,
        trust_policy=trust,
        now=ctx.now,
        path=params.get("Path", "/"),
        description=params.get("Description"),
        max_session_duration=params.get("MaxSessionDuration", 3600),
        tags=tags.checked(params.get("Tags")),
    )
    if boundary:
        row.body = {**row.body, "permissionsBoundary": policies.attachable(ctx, boundary).arn}
    return {"Role": shapes.role(row)}


def get_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Role": shapes.role(lookup.role(ctx, params["RoleName"]), last_used=True)}


def list_roles(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = store.entities(
        ctx.session, account=ctx.account, kind=store.ROLE, path_prefix=params.get("PathPrefix", "/")
    )
    items, marker = page(ctx, "ListRoles", rows, params)
    return shapes.page_output("Roles", [shapes.role(r, tags=False) for r in items], marker)


def delete_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.modifiable_role(ctx, params["RoleName"])
    if row.body.get("attachedPolicies"):
        raise DeleteConflictException("Cannot delete entity, must detach all policies first.")
    if row.body.get("inlinePolicies"):
        raise DeleteConflictException("Cannot delete entity, must delete policies first.")
    if profiles_with(ctx, row):
        raise DeleteConflictException(
            "Cannot delete entity, must remove roles from instance profile first."
        )
    store.remove_entity(ctx.session, row)
    return {}


def update_assume_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.modifiable_role(ctx, params["RoleName"])
    trust = checked_trust_policy(ctx, params["PolicyDocument"])
    row.body = {**row.body, "assumeRolePolicyDocument": trust}
    return {}


def update_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.modifiable_role(ctx, params["RoleName"])
    body = dict(row.body)
    if "Description" in params:
        body["description"] = params["Description"]
    if params.get("MaxSessionDuration") is not None:
        body["maxSessionDuration"] = params["MaxSessionDuration"]
    row.body = body
    return {}


def update_role_description(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.role(ctx, params["RoleName"])  # IAM lets a service-linked role be described
    row.body = {**row.body, "description": params["Description"]}
    return {"Role": shapes.role(row)}
