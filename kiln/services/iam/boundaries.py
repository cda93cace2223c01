"""Permissions boundaries of users and roles: Put/Delete{User,Role}PermissionsBoundary, and the
boundary that applies to a principal (for the authorizer and SimulatePrincipalPolicy).

A boundary is a managed policy ARN in the entity body (`permissionsBoundary`); it limits what the
identity policies can grant (kiln.iam.evaluate's `permissions_boundary`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kiln.iam import PolicyDocument, Principal
from kiln.services.context import RequestContext
from kiln.services.iam import lookup, policies
from kiln.services.iam.errors import NoSuchEntityException
from kiln.services.iam.identity import managed_document
from kiln.store import iam as store
from kiln.store.schema import IamEntityRow


def boundary_of(session: Session, row: IamEntityRow) -> PolicyDocument | None:
    arn = row.body.get("permissionsBoundary")
    return managed_document(session, arn) if arn else None


def principal_boundary(session: Session, principal: Principal) -> PolicyDocument | None:
    """The boundary of a user, or of the role behind a role session; None when it has none."""
    row: IamEntityRow | None = None
    if principal.username:
        row = store.entity(
            session, account=principal.account_id, kind=store.USER, name=principal.username
        )
    elif principal.role_arn:
        row = store.entity_by_arn(session, principal.role_arn)
    return boundary_of(session, row) if row is not None else None


def _put(ctx: RequestContext, row: IamEntityRow, arn: str) -> None:
    row.body = {**row.body, "permissionsBoundary": policies.attachable(ctx, arn).arn}


def _delete(row: IamEntityRow, noun: str) -> None:
    if not row.body.get("permissionsBoundary"):
        raise NoSuchEntityException(
            f"The {noun} with name {row.name} does not have a permissions boundary."
        )
    row.body = {k: v for k, v in row.body.items() if k != "permissionsBoundary"}


def put_user_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _put(ctx, lookup.user(ctx, params["UserName"]), params["PermissionsBoundary"])
    return {}


def delete_user_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _delete(lookup.user(ctx, params["UserName"]), "user")
    return {}


def put_role_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _put(ctx, lookup.modifiable_role(ctx, params["RoleName"]), params["PermissionsBoundary"])
    return {}


def delete_role_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _delete(lookup.modifiable_role(ctx, params["RoleName"]), "role")
    return {}
