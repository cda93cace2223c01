"""Instance profiles: Create/Get/List/DeleteInstanceProfile, AddRoleToInstanceProfile (one role
at most, IAM's quota), RemoveRoleFromInstanceProfile, ListInstanceProfilesForRole.

A profile's body names its roles; outputs embed them as Role shapes.
"""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.iam import ids, lookup, shapes, tags
from kiln.services.iam.entities import iam_arn
from kiln.services.iam.errors import (
    DeleteConflictException,
    LimitExceededException,
    NoSuchEntityException,
)
from kiln.services.iam.paging import page
from kiln.services.iam.roles import profiles_with
from kiln.store import iam as store
from kiln.store.schema import IamEntityRow

MAX_ROLES = 1


def roles_of(ctx: RequestContext, profile: IamEntityRow) -> list[IamEntityRow]:
    found = (
        store.entity(ctx.session, account=ctx.account, kind=store.ROLE, name=name)
        for name in profile.body.get("roles", [])
    )
    return [r for r in found if r is not None]


def shape(ctx: RequestContext, profile: IamEntityRow, *, with_tags: bool = True) -> dict[str, Any]:
    return shapes.instance_profile(profile, roles_of(ctx, profile), tags=with_tags)


def create_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name, path = params["InstanceProfileName"], params.get("Path", "/")
    lookup.ensure_absent(ctx, store.INSTANCE_PROFILE, name)
    row = store.add_entity(
        ctx.session,
        account=ctx.account,
        kind=store.INSTANCE_PROFILE,
        name=name,
        entity_id=ids.unique_id(ids.INSTANCE_PROFILE_PREFIX),
        path=path,
        arn=iam_arn(ctx.account, "instance-profile", path, name),
        body={"roles": [], "tags": tags.checked(params.get("Tags"))},
        now=ctx.now,
    )
    return {"InstanceProfile": shape(ctx, row)}


def get_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "InstanceProfile": shape(ctx, lookup.instance_profile(ctx, params["InstanceProfileName"]))
    }


def list_instance_profiles(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = store.entities(
        ctx.session,
        account=ctx.account,
        kind=store.INSTANCE_PROFILE,
        path_prefix=params.get("PathPrefix", "/"),
    )
    items, marker = page(ctx, "ListInstanceProfiles", rows, params)
    listed = [shape(ctx, r, with_tags=False) for r in items]
    return shapes.page_output("InstanceProfiles", listed, marker)


def delete_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = lookup.instance_profile(ctx, params["InstanceProfileName"])
    if roles_of(ctx, row):
        raise DeleteConflictException(
            "Cannot delete entity, must remove roles from instance profile first."
        )
    store.remove_entity(ctx.session, row)
    return {}


def add_role_to_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    profile = lookup.instance_profile(ctx, params["InstanceProfileName"])
    role = lookup.role(ctx, params["RoleName"])
    if len(roles_of(ctx, profile)) >= MAX_ROLES:
        raise LimitExceededException(
            f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_ROLES}"
        )
    profile.body = {**profile.body, "roles": [*profile.body.get("roles", []), role.name]}
    return {}


def remove_role_from_instance_profile(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    profile = lookup.instance_profile(ctx, params["InstanceProfileName"])
    role = lookup.role(ctx, params["RoleName"])
    names = list(profile.body.get("roles", []))
    if role.name not in names:
        raise NoSuchEntityException(
            f"The role with name {role.name} cannot be found in instance profile {profile.name}."
        )
    names.remove(role.name)
    profile.body = {**profile.body, "roles": names}
    return {}


def list_instance_profiles_for_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    role = lookup.role(ctx, params["RoleName"])
    items, marker = page(ctx, "ListInstanceProfilesForRole", profiles_with(ctx, role), params)
    listed = [shape(ctx, r, with_tags=False) for r in items]
    return shapes.page_output("InstanceProfiles", listed, marker)
