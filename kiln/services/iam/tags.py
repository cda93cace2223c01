"""Tags on users, roles and instance profiles: TagUser, UntagRole, ListInstanceProfileTags, ...

IAM tag keys are case-insensitive: a new value for `costcenter` replaces `CostCenter`.
"""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.iam import lookup, shapes
from kiln.services.iam.errors import InvalidInputException, LimitExceededException
from kiln.services.iam.paging import page
from kiln.store.schema import IamEntityRow

MAX_TAGS = 50

Tag = dict[str, str]


def checked(tags: list[Tag] | None) -> list[Tag]:
    """Tags given in one request: no key twice (ignoring case), at most 50."""
    given = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags or []]
    keys = [t["Key"].lower() for t in given]
    if len(keys) != len(set(keys)):
        raise InvalidInputException(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )
    if len(given) > MAX_TAGS:
        raise LimitExceededException("The number of tags has reached the maximum limit.")
    return given


def merged(existing: list[Tag], new: list[Tag]) -> list[Tag]:
    replaced = {t["Key"].lower() for t in new}
    out = [t for t in existing if t["Key"].lower() not in replaced] + new
    if len(out) > MAX_TAGS:
        raise LimitExceededException("The number of tags has reached the maximum limit.")
    return out


def tag(row: IamEntityRow, tags: list[Tag]) -> None:
    row.body = {**row.body, "tags": merged(list(row.body.get("tags", [])), checked(tags))}


def untag(row: IamEntityRow, keys: list[str]) -> None:
    gone = {k.lower() for k in keys}
    kept = [t for t in row.body.get("tags", []) if t["Key"].lower() not in gone]
    row.body = {**row.body, "tags": kept}


def listing(
    ctx: RequestContext, operation: str, row: IamEntityRow, params: dict[str, Any]
) -> dict[str, Any]:
    items, marker = page(ctx, operation, shapes.tags_of(row), params)
    return shapes.page_output("Tags", items, marker)


def tag_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tag(lookup.user(ctx, params["UserName"]), params["Tags"])
    return {}


def untag_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    untag(lookup.user(ctx, params["UserName"]), params["TagKeys"])
    return {}


def list_user_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return listing(ctx, "ListUserTags", lookup.user(ctx, params["UserName"]), params)


def tag_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tag(lookup.role(ctx, params["RoleName"]), params["Tags"])
    return {}


def untag_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    untag(lookup.role(ctx, params["RoleName"]), params["TagKeys"])
    return {}


def list_role_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return listing(ctx, "ListRoleTags", lookup.role(ctx, params["RoleName"]), params)


def tag_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tag(lookup.instance_profile(ctx, params["InstanceProfileName"]), params["Tags"])
    return {}


def untag_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    untag(lookup.instance_profile(ctx, params["InstanceProfileName"]), params["TagKeys"])
    return {}


def list_instance_profile_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.instance_profile(ctx, params["InstanceProfileName"])
    return listing(ctx, "ListInstanceProfileTags", row, params)
