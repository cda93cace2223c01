"""Inline policies embedded in users and roles: Put/Get/Delete/List {User,Role}Policy.

Documents are kept as submitted and returned percent-encoded, as IAM does. The aggregate size of
a user's inline policies is limited to 2,048 characters, a role's to 10,240 (whitespace not
counted), IAM's quotas.
"""

from __future__ import annotations

import re
from typing import Any

from kiln.iam import PolicyKind, parse_policy
from kiln.services.context import RequestContext
from kiln.services.iam import lookup, shapes
from kiln.services.iam.errors import LimitExceededException, NoSuchEntityException
from kiln.services.iam.paging import page
from kiln.store.schema import IamEntityRow

USER_QUOTA = 2048
ROLE_QUOTA = 10240
_WHITESPACE = re.compile(r"\s+")


def _put(row: IamEntityRow, name: str, document: str, *, noun: str, quota: int) -> None:
    parse_policy(document, kind=PolicyKind.IDENTITY)
    inline = {**row.body.get("inlinePolicies", {}), name: document}
    size = sum(len(_WHITESPACE.sub("", text)) for text in inline.values())
    if size > quota:
        raise LimitExceededException(
            f"Maximum policy size of {quota} bytes exceeded for {noun} {row.name}"
        )
    row.body = {**row.body, "inlinePolicies": inline}


def _get(row: IamEntityRow, name: str, *, noun: str) -> str:
    text = row.body.get("inlinePolicies", {}).get(name)
    if text is None:
        raise NoSuchEntityException(f"The {noun} policy with name {name} cannot be found.")
    return str(text)


def _delete(row: IamEntityRow, name: str, *, noun: str) -> None:
    _get(row, name, noun=noun)
    inline = {k: v for k, v in row.body.get("inlinePolicies", {}).items() if k != name}
    row.body = {**row.body, "inlinePolicies": inline}


def _listing(
    ctx: RequestContext, operation: str, row: IamEntityRow, params: dict[str, Any]
) -> dict[str, Any]:
    names = sorted(row.body.get("inlinePolicies", {}))
    items, marker = page(ctx, operation, names, params)
    return shapes.page_output("PolicyNames", items, marker)


def put_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.user(ctx, params["UserName"])
    _put(row, params["PolicyName"], params["PolicyDocument"], noun="user", quota=USER_QUOTA)
    return {}


def get_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.user(ctx, params["UserName"])
    text = _get(row, params["PolicyName"], noun="user")
    return {
        "UserName": row.name,
        "PolicyName": params["PolicyName"],
        "PolicyDocument": shapes.encode_document(text),
    }


def delete_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _delete(lookup.user(ctx, params["UserName"]), params["PolicyName"], noun="user")
    return {}


def list_user_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _listing(ctx, "ListUserPolicies", lookup.user(ctx, params["UserName"]), params)


def put_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.modifiable_role(ctx, params["RoleName"])
    _put(row, params["PolicyName"], params["PolicyDocument"], noun="role", quota=ROLE_QUOTA)
    return {}


def get_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.role(ctx, params["RoleName"])
    text = _get(row, params["PolicyName"], noun="role")
    return {
        "RoleName": row.name,
        "PolicyName": params["PolicyName"],
        "PolicyDocument": shapes.encode_document(text),
    }


def delete_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _delete(lookup.modifiable_role(ctx, params["RoleName"]), params["PolicyName"], noun="role")
    return {}


def list_role_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _listing(ctx, "ListRolePolicies", lookup.role(ctx, params["RoleName"]), params)
