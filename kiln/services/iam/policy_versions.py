"""Versions of a managed policy: CreatePolicyVersion, GetPolicyVersion, ListPolicyVersions,
DeletePolicyVersion, SetDefaultPolicyVersion. A customer policy keeps up to five versions; their
ids count up and are never reused. A shipped AWS policy has its default version only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiln.services.context import RequestContext
from kiln.services.iam import policies, shapes
from kiln.services.iam.errors import (
    DeleteConflictException,
    InvalidInputException,
    LimitExceededException,
    NoSuchEntityException,
)
from kiln.services.iam.paging import page
from kiln.store.schema import IamEntityRow

MAX_VERSIONS = 5

Version = dict[str, Any]


def _customer(ctx: RequestContext, arn: str) -> IamEntityRow:
    ref = policies.require(ctx, arn)
    if ref.row is None:
        raise InvalidInputException(f"Policy {arn} is an AWS managed policy; it cannot be changed.")
    return ref.row


def _versions(ref: policies.PolicyRef) -> tuple[list[Version], str]:
    """Every version (as stored in a customer policy body) and the default version id."""
    if ref.aws is not None:
        version = {
            "versionId": ref.aws.version_id,
            "document": ref.aws.document_json,
            "createDate": ref.aws.create_date.isoformat(),
        }
        return [version], ref.aws.version_id
    assert ref.row is not None
    return list(ref.row.body["versions"]), str(ref.row.body["defaultVersionId"])


def _find(arn: str, versions: list[Version], version_id: str) -> Version:
    for version in versions:
        if version["versionId"] == version_id:
            return version
    raise NoSuchEntityException(
        f"Policy {arn} version {version_id} does not exist or is not attachable."
    )


def _shape(version: Version, default: str, *, document: bool) -> dict[str, Any]:
    return {
        "VersionId": version["versionId"],
        "IsDefaultVersion": version["versionId"] == default,
        "CreateDate": dt.datetime.fromisoformat(version["createDate"]),
        "Document": shapes.encode_document(version["document"]) if document else None,
    }


def create_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _customer(ctx, params["PolicyArn"])
    document = policies.checked_document(params["PolicyDocument"])
    versions = list(row.body["versions"])
    if len(versions) >= MAX_VERSIONS:
        raise LimitExceededException(
            f"A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new "
            "version, you must delete an existing version."
        )
    last = int(row.body.get("lastVersion", max(int(v["versionId"][1:]) for v in versions)))
    version = {"versionId": f"v{last + 1}", "document": document, "createDate": ctx.now.isoformat()}
    body = {**row.body, "versions": [*versions, version], "lastVersion": last + 1}
    if params.get("SetAsDefault"):
        body.update(defaultVersionId=version["versionId"], updateDate=ctx.now.isoformat())
    row.body = body
    return {"PolicyVersion": _shape(version, body["defaultVersionId"], document=False)}


def get_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = policies.require(ctx, params["PolicyArn"])
    versions, default = _versions(ref)
    version = _find(ref.arn, versions, params["VersionId"])
    return {"PolicyVersion": _shape(version, default, document=True)}


def list_policy_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = policies.require(ctx, params["PolicyArn"])
    versions, default = _versions(ref)
    newest_first = sorted(versions, key=lambda v: int(v["versionId"][1:]), reverse=True)
    items, marker = page(ctx, "ListPolicyVersions", newest_first, params)
    listed = [_shape(v, default, document=False) for v in items]
    return shapes.page_output("Versions", listed, marker)


def delete_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _customer(ctx, params["PolicyArn"])
    version_id = params["VersionId"]
    _find(row.arn, row.body["versions"], version_id)
    if version_id == row.body["defaultVersionId"]:
        raise DeleteConflictException("Cannot delete the default version of a policy.")
    kept = [v for v in row.body["versions"] if v["versionId"] != version_id]
    row.body = {**row.body, "versions": kept}
    return {}


def set_default_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _customer(ctx, params["PolicyArn"])
    version_id = params["VersionId"]
    _find(row.arn, row.body["versions"], version_id)
    row.body = {**row.body, "defaultVersionId": version_id, "updateDate": ctx.now.isoformat()}
    return {}
