"""Long-term access keys of IAM users: CreateAccessKey (the secret is shown once),
ListAccessKeys, UpdateAccessKey (Active/Inactive), DeleteAccessKey. At most two per user.

Without `UserName` the calls act on the calling user, as in IAM.
"""

from __future__ import annotations

from typing import Any

from kiln.auth.secretbox import SecretBox
from kiln.core.errors import ServiceError
from kiln.services.context import RequestContext
from kiln.services.iam import lookup, shapes
from kiln.services.iam.entities import create_access_key as add_key
from kiln.services.iam.errors import LimitExceededException, NoSuchEntityException, ValidationError
from kiln.services.iam.paging import page
from kiln.store import iam as store
from kiln.store.schema import CredentialRow

MAX_KEYS = 2
UPDATABLE = ("Active", "Inactive")


def secret_box(ctx: RequestContext) -> SecretBox:
    if ctx.box is None:
        raise ServiceError(
            "The server has no secrets key to protect credentials with.", code="ServiceFailure"
        )
    return ctx.box


def _key(ctx: RequestContext, params: dict[str, Any]) -> CredentialRow:
    user = lookup.user(ctx, lookup.caller_user_name(ctx, params.get("UserName")))
    key_id = params["AccessKeyId"]
    row = store.credential(ctx.session, key_id)
    if (
        row is None
        or row.kind != "user"
        or row.account != ctx.account
        or row.user_name != user.name
    ):
        raise NoSuchEntityException(f"The Access Key with id {key_id} cannot be found.")
    return row


def create_access_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = lookup.user(ctx, lookup.caller_user_name(ctx, params.get("UserName")))
    if (
        len(store.user_credentials(ctx.session, account=ctx.account, user_name=user.name))
        >= MAX_KEYS
    ):
        raise LimitExceededException(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
    row, secret = add_key(
        ctx.session, secret_box(ctx), account=ctx.account, user_name=user.name, now=ctx.now
    )
    return {
        "AccessKey": {
            "UserName": user.name,
            "AccessKeyId": row.access_key_id,
            "Status": row.status,
            "SecretAccessKey": secret,
            "CreateDate": row.created_at,
        }
    }


def list_access_keys(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    user = lookup.user(ctx, lookup.caller_user_name(ctx, params.get("UserName")))
    rows = store.user_credentials(ctx.session, account=ctx.account, user_name=user.name)
    items, marker = page(ctx, "ListAccessKeys", rows, params)
    listed = [
        {
            "UserName": user.name,
            "AccessKeyId": r.access_key_id,
            "Status": r.status,
            "CreateDate": r.created_at,
        }
        for r in items
    ]
    return shapes.page_output("AccessKeyMetadata", listed, marker)


def update_access_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = params["Status"]
    if status not in UPDATABLE:
        raise ValidationError(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Active, Inactive]"
        )
    _key(ctx, params).status = status
    return {}


def delete_access_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store.remove_credential(ctx.session, _key(ctx, params))
    return {}
