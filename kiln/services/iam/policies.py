"""Managed policies: customer managed ones (CreatePolicy, DeletePolicy, ...) and the AWS managed
ones Kiln ships (kiln.iam.managed_policies), as GetPolicy, ListPolicies and ListEntitiesForPolicy
see them. Attachment counts are per account: users and roles whose body lists the ARN."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from kiln.iam import ManagedPolicy, PolicyKind, managed_policies, managed_policy, parse_policy
from kiln.services.context import RequestContext
from kiln.services.iam import ids, lookup, shapes, tags
from kiln.services.iam.entities import iam_arn
from kiln.services.iam.errors import (
    DeleteConflictException,
    InvalidInputException,
    LimitExceededException,
    NoSuchEntityException,
    PolicyNotAttachableException,
)
from kiln.services.iam.paging import page
from kiln.store import iam as store
from kiln.store.schema import IamEntityRow

MAX_POLICY_SIZE = 6144
SERVICE_ROLE_PATH = "/aws-service-role/"
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PolicyRef:
    """A managed policy by ARN: one of the shipped AWS ones, or a customer policy row."""

    arn: str
    name: str
    path: str
    aws: ManagedPolicy | None = None
    row: IamEntityRow | None = None

    @classmethod
    def shipped(cls, policy: ManagedPolicy) -> PolicyRef:
        return cls(policy.arn, policy.name, policy.path, aws=policy)

    @classmethod
    def customer(cls, row: IamEntityRow) -> PolicyRef:
        return cls(row.arn, row.name, row.path, row=row)


def find(ctx: RequestContext, arn: str) -> PolicyRef | None:
    shipped = managed_policy(arn)
    if shipped is not None:
        return PolicyRef.shipped(shipped)
    row = store.entity_by_arn(ctx.session, arn)
    if row is None or row.kind != store.POLICY or row.account != ctx.account:
        return None
    return PolicyRef.customer(row)


def require(ctx: RequestContext, arn: str) -> PolicyRef:
    lookup.parse_arn(arn)
    found = find(ctx, arn)
    if found is None:
        raise NoSuchEntityException(f"Policy {arn} was not found.")
    return found


def attachable(ctx: RequestContext, arn: str) -> PolicyRef:
    """The policy to attach to a user or role (or to use as a permissions boundary)."""
    lookup.parse_arn(arn)
    found = find(ctx, arn)
    if found is None:
        raise NoSuchEntityException(f"Policy {arn} does not exist or is not attachable.")
    if found.aws is not None and found.path.startswith(SERVICE_ROLE_PATH):
        raise PolicyNotAttachableException(
            "Cannot attach a Service Role Policy to a Customer Role."
        )
    return found


def checked_document(text: str) -> str:
    """A valid identity policy within IAM's size quota; raises MalformedPolicyDocument."""
    parse_policy(text, kind=PolicyKind.IDENTITY)
    if len(_WHITESPACE.sub("", text)) > MAX_POLICY_SIZE:
        raise LimitExceededException(f"Cannot exceed quota for PolicySize: {MAX_POLICY_SIZE}")
    return text


def aws_policy_id(policy: ManagedPolicy) -> str:
    """A stable `ANPA…` id for a shipped policy (AWS's ids are not part of the shipped data)."""
    digest = base64.b32encode(hashlib.sha256(policy.arn.encode()).digest()).decode()
    return ids.POLICY_PREFIX + digest[:17]


def users_and_roles(ctx: RequestContext) -> list[IamEntityRow]:
    return store.entities(ctx.session, account=ctx.account, kind=store.USER) + store.entities(
        ctx.session, account=ctx.account, kind=store.ROLE
    )


def attached_to(ctx: RequestContext, arn: str) -> list[IamEntityRow]:
    return [r for r in users_and_roles(ctx) if arn in r.body.get("attachedPolicies", [])]


def boundary_of(ctx: RequestContext, arn: str) -> list[IamEntityRow]:
    return [r for r in users_and_roles(ctx) if r.body.get("permissionsBoundary") == arn]


def policy_shape(ctx: RequestContext, ref: PolicyRef, *, detail: bool = True) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "PolicyName": ref.name,
        "Arn": ref.arn,
        "Path": ref.path,
        "AttachmentCount": len(attached_to(ctx, ref.arn)),
        "PermissionsBoundaryUsageCount": len(boundary_of(ctx, ref.arn)),
        "IsAttachable": not (ref.aws is not None and ref.path.startswith(SERVICE_ROLE_PATH)),
    }
    if ref.aws is not None:
        created = ref.aws.create_date
        shape.update(
            PolicyId=aws_policy_id(ref.aws),
            DefaultVersionId=ref.aws.version_id,
            CreateDate=created,
            UpdateDate=created,
        )
        return shape
    row = ref.row
    assert row is not None
    updated = row.body.get("updateDate")
    shape.update(
        PolicyId=row.entity_id,
        DefaultVersionId=row.body["defaultVersionId"],
        CreateDate=row.created_at,
        UpdateDate=dt.datetime.fromisoformat(updated) if updated else row.created_at,
    )
    if detail:
        shape["Description"] = row.body.get("description")
        shape["Tags"] = shapes.tags_of(row) or None
    return shape


def create_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name, path = params["PolicyName"], params.get("Path", "/")
    lookup.ensure_absent(ctx, store.POLICY, name)
    document = checked_document(params["PolicyDocument"])
    body: dict[str, Any] = {
        "defaultVersionId": "v1",
        "lastVersion": 1,
        "versions": [{"versionId": "v1", "document": document, "createDate": ctx.now.isoformat()}],
        "tags": tags.checked(params.get("Tags")),
    }
    if params.get("Description"):
        body["description"] = params["Description"]
    row = store.add_entity(
        ctx.session,
        account=ctx.account,
        kind=store.POLICY,
        name=name,
        entity_id=ids.unique_id(ids.POLICY_PREFIX),
        path=path,
        arn=iam_arn(ctx.account, "policy", path, name),
        body=body,
        now=ctx.now,
    )
    return {"Policy": policy_shape(ctx, PolicyRef.customer(row))}


def get_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Policy": policy_shape(ctx, require(ctx, params["PolicyArn"]))}


def list_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = params.get("Scope", "All")
    prefix = params.get("PathPrefix", "/")
    refs: list[PolicyRef] = []
    if scope in ("All", "AWS"):
        refs += [PolicyRef.shipped(p) for p in managed_policies()]
    if scope in ("All", "Local"):
        rows = store.entities(ctx.session, account=ctx.account, kind=store.POLICY)
        refs += [PolicyRef.customer(r) for r in rows]
    refs = [r for r in refs if r.path.startswith(prefix)]
    usage = params.get("PolicyUsageFilter")
    if params.get("OnlyAttached") or usage:
        refs = [r for r in refs if _in_use(ctx, r.arn, usage)]
    items, marker = page(ctx, "ListPolicies", refs, params)
    listed = [policy_shape(ctx, r, detail=False) for r in items]
    return shapes.page_output("Policies", listed, marker)


def _in_use(ctx: RequestContext, arn: str, usage: str | None) -> bool:
    if usage == "PermissionsBoundary":
        return bool(boundary_of(ctx, arn))
    if usage == "PermissionsPolicy":
        return bool(attached_to(ctx, arn))
    return bool(attached_to(ctx, arn) or boundary_of(ctx, arn))


def delete_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = require(ctx, params["PolicyArn"])
    if ref.row is None:
        raise InvalidInputException(
            f"Policy {ref.arn} is an AWS managed policy; it cannot be deleted."
        )
    if attached_to(ctx, ref.arn) or boundary_of(ctx, ref.arn):
        raise DeleteConflictException("Cannot delete a policy attached to entities.")
    if len(ref.row.body.get("versions", [])) > 1:
        raise DeleteConflictException(
            "This policy has more than one version. Before you delete a policy, you must delete "
            "the policy's versions. The default version is deleted with the policy."
        )
    store.remove_entity(ctx.session, ref.row)
    return {}


def list_entities_for_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = require(ctx, params["PolicyArn"]).arn
    kinds = {"User": store.USER, "Role": store.ROLE}
    wanted = params.get("EntityFilter")
    prefix = params.get("PathPrefix", "/")
    usage = params.get("PolicyUsageFilter")
    rows = [
        r
        for r in users_and_roles(ctx)
        if (wanted is None or kinds.get(wanted) == r.kind)
        and r.path.startswith(prefix)
        and (
            (usage != "PermissionsBoundary" and arn in r.body.get("attachedPolicies", []))
            or (usage != "PermissionsPolicy" and r.body.get("permissionsBoundary") == arn)
        )
    ]
    items, marker = page(ctx, "ListEntitiesForPolicy", rows, params)
    users = [{"UserName": r.name, "UserId": r.entity_id} for r in items if r.kind == store.USER]
    roles = [{"RoleName": r.name, "RoleId": r.entity_id} for r in items if r.kind == store.ROLE]
    return {
        "PolicyGroups": [],
        "PolicyUsers": users,
        "PolicyRoles": roles,
        "IsTruncated": marker is not None,
        "Marker": marker,
    }


def tag_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags.tag(_customer(ctx, params["PolicyArn"]), params["Tags"])
    return {}


def untag_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags.untag(_customer(ctx, params["PolicyArn"]), params["TagKeys"])
    return {}


def list_policy_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tags.listing(ctx, "ListPolicyTags", _customer(ctx, params["PolicyArn"]), params)


def _customer(ctx: RequestContext, arn: str) -> IamEntityRow:
    ref = require(ctx, arn)
    if ref.row is None:
        raise InvalidInputException(f"Policy {arn} is an AWS managed policy; it cannot be changed.")
    return ref.row
