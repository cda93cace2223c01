"""IAM users: CreateUser, GetUser (the caller when no name is given), ListUsers, DeleteUser.

A user cannot be deleted while it has access keys, attached or inline policies (DeleteConflict),
as in IAM.
"""

from __future__ import annotations

from typing import Any

from kiln.iam import PrincipalType
from kiln.services.context import RequestContext
from kiln.services.iam import lookup, policies, shapes, tags
from kiln.services.iam.entities import create_user as add_user
from kiln.services.iam.errors import DeleteConflictException, ValidationError
from kiln.services.iam.paging import page
from kiln.store import iam as store
from kiln.store.schema import AccountRow


def create_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["UserName"]
    lookup.ensure_absent(ctx, store.USER, name)
    boundary = params.get("PermissionsBoundary")
    row = add_user(
        ctx.session,
        account=ctx.account,
        name=name,
        now=ctx.now,
        path=params.get("Path", "/"),
        tags=tags.checked(params.get("Tags")),
        permissions_boundary=policies.attachable(ctx, boundary).arn if boundary else None,
    )
    return {"User": shapes.user(row)}


def get_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("UserName")
    if name:
        return {"User": shapes.user(lookup.user(ctx, name))}
    principal = lookup.caller(ctx)
    if principal.type is PrincipalType.ROOT:
        account = ctx.session.get(AccountRow, principal.account_id)
        created = account.created_at if account is not None else ctx.now
        return {
            "User": {"UserId": principal.account_id, "Arn": principal.arn, "CreateDate": created}
        }
    if principal.type is not PrincipalType.USER or not principal.username:
        raise ValidationError("Must specify userName when calling with non-User credentials")
    return {"User": shapes.user(lookup.user(ctx, principal.username))}


def list_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = store.entities(
        ctx.session, account=ctx.account, kind=store.USER, path_prefix=params.get("PathPrefix", "/")
    )
    items, marker = page(ctx, "ListUsers", rows, params)
    return shapes.page_output("Users", [shapes.user(r, tags=False) for r in items], marker)


def delete_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.user(ctx, params["UserName"])
    if store.user_credentials(ctx.session, account=ctx.account, user_name=row.name):
        raise DeleteConflictException("Cannot delete entity, must delete access keys first.")
    if row.body.get("attachedPolicies"):
        raise DeleteConflictException("Cannot delete entity, must detach all policies first.")
    if row.body.get("inlinePolicies"):
        raise DeleteConflictException("Cannot delete entity, must delete policies first.")
    store.remove_entity(ctx.session, row)
    return {}
