"""IAM entities as the iam model's output shapes (User, Role, InstanceProfile, Policy, ...).

Policy documents go out percent-encoded, as IAM sends them (botocore's `json_decode_policies`
handler unquotes every `policyDocumentType` member and parses the JSON); the text is the one the
client submitted, whitespace included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from kiln.store.schema import IamEntityRow

Shape = dict[str, Any]


def encode_document(text: str) -> str:
    """A policy document as IAM returns it: RFC 3986 percent-encoding of the JSON text."""
    return quote(text, safe="")


def tags_of(row: IamEntityRow) -> list[dict[str, str]]:
    return [dict(tag) for tag in row.body.get("tags", [])]


def _boundary(row: IamEntityRow) -> Shape | None:
    arn = row.body.get("permissionsBoundary")
    if not arn:
        return None
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


def user(row: IamEntityRow, *, tags: bool = True) -> Shape:
    shape: Shape = {
        "Path": row.path,
        "UserName": row.name,
        "UserId": row.entity_id,
        "Arn": row.arn,
        "CreateDate": row.created_at,
        "PermissionsBoundary": _boundary(row),
    }
    if tags and row.body.get("tags"):
        shape["Tags"] = tags_of(row)
    return shape


def role(row: IamEntityRow, *, tags: bool = True, last_used: bool = False) -> Shape:
    body = row.body
    shape: Shape = {
        "Path": row.path,
        "RoleName": row.name,
        "RoleId": row.entity_id,
        "Arn": row.arn,
        "CreateDate": row.created_at,
        "AssumeRolePolicyDocument": encode_document(body["assumeRolePolicyDocument"]),
        "Description": body.get("description"),
        "MaxSessionDuration": body.get("maxSessionDuration", 3600),
        "PermissionsBoundary": _boundary(row),
    }
    if tags and body.get("tags"):
        shape["Tags"] = tags_of(row)
    if last_used:
        used = body.get("lastUsed")
        shape["RoleLastUsed"] = (
            {"LastUsedDate": dt.datetime.fromisoformat(used["date"]), "Region": used["region"]}
            if used
            else {}
        )
    return shape


def instance_profile(row: IamEntityRow, roles: list[IamEntityRow], *, tags: bool = True) -> Shape:
    shape: Shape = {
        "Path": row.path,
        "InstanceProfileName": row.name,
        "InstanceProfileId": row.entity_id,
        "Arn": row.arn,
        "CreateDate": row.created_at,
        "Roles": [role(r, tags=False) for r in roles],
    }
    if tags and row.body.get("tags"):
        shape["Tags"] = tags_of(row)
    return shape


def attached(arn: str) -> Shape:
    """AttachedPolicy: the name is the last node of the ARN."""
    return {"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn}


def page_output(key: str, items: list[Any], marker: str | None) -> Shape:
    """A list result with IAM's IsTruncated / Marker."""
    return {key: items, "IsTruncated": marker is not None, "Marker": marker}
