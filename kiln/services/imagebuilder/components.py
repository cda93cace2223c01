"""Components: AWSTOE documents as versioned Image Builder resources."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiln.core.arn import imagebuilder_arn
from kiln.core.clock import aws_datetime
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versioned, versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceAlreadyExistsException,
)
from kiln.services.imagebuilder.filters import apply_filters
from kiln.store.schema import ResourceRow
from kiln.toe import Document, DocumentInvalidError, component_type, parse_document

RESOURCE = "component"
_VERSION_KEYS = (
    "name",
    "version",
    "description",
    "platform",
    "supportedOsVersions",
    "type",
    "owner",
    "dateCreated",
)
_SUMMARY_KEYS = (
    "arn",
    "name",
    "version",
    "platform",
    "supportedOsVersions",
    "state",
    "type",
    "owner",
    "description",
    "changeDescription",
    "dateCreated",
    "publisher",
    "obfuscate",
)
_FILTERS = {
    "name": lambda body: [body.get("name")],
    "platform": lambda body: [body.get("platform")],
    "type": lambda body: [body.get("type")],
    "version": lambda body: [body.get("version")],
    "description": lambda body: [body.get("description")],
    "supportedOsVersion": lambda body: body.get("supportedOsVersions") or [],
}


def create_component(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    data = versioned.document_text(ctx, params, noun="component")
    version = versioned.semantic_version(params["semanticVersion"])
    document = _parse(data, params["platform"])
    version_arn = imagebuilder_arn(
        region=ctx.region,
        account=ctx.account,
        resource_type=RESOURCE,
        name=params["name"],
        version=str(version),
    )
    if versioned.builds_of(ctx, version_arn, RESOURCE):
        raise ResourceAlreadyExistsException(
            f"The component version '{version_arn}' already exists."
        )
    row = versioned.add_build(
        ctx,
        resource_type=RESOURCE,
        version_arn=version_arn,
        name=params["name"],
        version=version,
        tags=params.get("tags"),
        body=lambda arn: component_body(
            arn=arn,
            name=params["name"],
            version=str(version),
            document=document,
            data=data,
            platform=params["platform"],
            owner=ctx.account,
            now=ctx.now,
            description=params.get("description"),
            change_description=params.get("changeDescription"),
            supported_os_versions=params.get("supportedOsVersions"),
            kms_key_id=params.get("kmsKeyId"),
        ),
    )
    return {
        "clientToken": params.get("clientToken"),
        "componentBuildVersionArn": row.arn,
        "latestVersionReferences": versions.latest_version_references(row),
    }


def component_body(
    *,
    arn: str,
    name: str,
    version: str,
    document: Document,
    data: str,
    platform: str,
    owner: str,
    now: dt.datetime,
    description: str | None = None,
    change_description: str | None = None,
    supported_os_versions: list[str] | None = None,
    kms_key_id: str | None = None,
) -> dict[str, Any]:
    """The Component shape Kiln stores for a component version (GetComponent returns it)."""
    return versioned.compact(
        {
            "arn": arn,
            "name": name,
            "version": version,
            "description": description,
            "changeDescription": change_description,
            "type": component_type(document),
            "platform": platform,
            "supportedOsVersions": supported_os_versions,
            "state": {"status": "ACTIVE"},
            "parameters": [_parameter_detail(p) for p in document.parameters] or None,
            "owner": owner,
            "data": data,
            "kmsKeyId": kms_key_id,
            "encrypted": True,
            "dateCreated": aws_datetime(now),
            "obfuscate": False,
        }
    )


def get_component(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "componentBuildVersionArn"
    row = versions.resolve(ctx, versions.parse(params[member], RESOURCE, member=member))
    return {
        "component": component_view(row),
        "latestVersionReferences": versions.latest_version_references(row),
    }


def component_view(row: ResourceRow) -> dict[str, Any]:
    return {**row.body, "tags": row.tags or None}


def list_components(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = versions.rows_for_owner(ctx, RESOURCE, params.get("owner"))
    bodies = apply_filters(
        [row.body for row in versions.latest_builds(rows)], params.get("filters"), _FILTERS
    )
    if params.get("byName"):
        names = {f["values"][0] for f in params.get("filters") or [] if f.get("name") == "name"}
        bodies = [b for b in bodies if b["name"] in names]
    entries = [_version_entry(body) for body in bodies]
    page, token = versioned.page(ctx, "ListComponents", entries, params)
    return {"componentVersionList": page, "nextToken": token}


def list_component_build_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "componentVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    summaries = [
        versioned.summary(row, _SUMMARY_KEYS) for row in versioned.builds_of(ctx, arn, RESOURCE)
    ]
    page, token = versioned.page(ctx, "ListComponentBuildVersions", summaries, params)
    return {"componentSummaryList": page, "nextToken": token}


def delete_component(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "componentBuildVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    row = versions.resolve(ctx, arn)
    versions.require_owner(ctx, row, noun="component", named=str(arn))
    versions.remove_unused(ctx, row, noun="component")
    return {"componentBuildVersionArn": row.arn}


def _parse(data: str, platform: str) -> Any:
    try:
        return parse_document(data, platform=platform)
    except DocumentInvalidError as exc:
        raise InvalidParameterValueException(f"The component document is not valid: {exc}") from exc


def _parameter_detail(parameter: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {"name": parameter.name, "type": parameter.type}
    if parameter.default is not None:
        detail["defaultValue"] = [str(parameter.default)]
    if parameter.description:
        detail["description"] = parameter.description
    return detail


def _version_entry(body: dict[str, Any]) -> dict[str, Any]:
    entry = versioned.version_entry(body, _VERSION_KEYS)
    entry["status"] = body.get("state", {}).get("status")
    return versioned.compact(entry)
