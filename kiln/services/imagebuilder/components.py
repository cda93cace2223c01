"""Components: AWSTOE documents as versioned Image Builder resources."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiln.core.arn import imagebuilder_arn
from kiln.core.clock import aws_datetime
from kiln.core.semver import Version
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    InvalidVersionNumberException,
    ResourceAlreadyExistsException,
)
from kiln.services.imagebuilder.filters import apply_filters
from kiln.services.imagebuilder.uris import read_document_uri
from kiln.store import resources
from kiln.store.schema import ResourceRow
from kiln.toe import Document, DocumentInvalidError, component_type, parse_document

RESOURCE = "component"
_FILTERS = {
    "name": lambda body: [body.get("name")],
    "platform": lambda body: [body.get("platform")],
    "type": lambda body: [body.get("type")],
    "version": lambda body: [body.get("version")],
    "description": lambda body: [body.get("description")],
    "supportedOsVersion": lambda body: body.get("supportedOsVersions") or [],
}


def create_component(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _document_text(ctx, params)
    version = _version(params["semanticVersion"])
    document = _parse(data, params["platform"])
    version_arn = imagebuilder_arn(
        region=ctx.region,
        account=ctx.account,
        resource_type=RESOURCE,
        name=params["name"],
        version=str(version),
    )
    if resources.listing(
        ctx.session,
        resource_type=RESOURCE,
        region=ctx.region,
        owners=[ctx.account],
        arn_name=version_arn.name,
        version=str(version),
    ):
        raise ResourceAlreadyExistsException(
            f"The component version '{version_arn}' already exists."
        )
    build = resources.next_build(ctx.session, str(version_arn))
    arn = version_arn.with_version(str(version), build)
    body = component_body(
        arn=str(arn),
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
    )
    row = resources.add(
        ctx.session,
        ctx.scope,
        resource_type=RESOURCE,
        arn=str(arn),
        name=params["name"],
        arn_name=arn.name,
        body=body,
        tags=params.get("tags") or {},
        now=ctx.now,
        version=version,
        build=build,
    )
    return {
        "clientToken": params.get("clientToken"),
        "componentBuildVersionArn": str(arn),
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
    return _compact(
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
    page, token = ctx.tokens.page(
        "ListComponents",
        entries,
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"componentVersionList": page, "nextToken": token}


def list_component_build_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "componentVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    rows = [
        row
        for row in resources.listing(
            ctx.session,
            resource_type=RESOURCE,
            region=arn.region,
            owners=[arn.account],
            arn_name=arn.name,
            version=str(arn.version),
        )
        if versions.visible(ctx, row)
    ]
    summaries = [_summary(row) for row in rows]
    page, token = ctx.tokens.page(
        "ListComponentBuildVersions",
        summaries,
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"componentSummaryList": page, "nextToken": token}


def delete_component(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    member = "componentBuildVersionArn"
    arn = versions.parse(params[member], RESOURCE, member=member)
    row = versions.resolve(ctx, arn)
    versions.require_owner(ctx, row, noun="component", named=str(arn))
    versions.remove_unused(ctx, row, noun="component")
    return {"componentBuildVersionArn": row.arn}


def _document_text(ctx: RequestContext, params: dict[str, Any]) -> str:
    data, uri = params.get("data"), params.get("uri")
    if data and uri:
        raise InvalidParameterCombinationException(
            "You can specify either 'data' or 'uri' for a component, not both."
        )
    if uri:
        return read_document_uri(ctx, str(uri), member="uri")
    if not data:
        raise InvalidParameterValueException(
            "A component needs a document: specify 'data' (inline YAML) or 'uri'."
        )
    return str(data)


def _version(text: str) -> Version:
    try:
        return Version.parse(text)
    except ValueError as exc:
        raise InvalidVersionNumberException(str(exc)) from exc


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
    arn = body["arn"].rsplit("/", 1)[0]
    keys = (
        "name",
        "version",
        "description",
        "platform",
        "supportedOsVersions",
        "type",
        "owner",
        "dateCreated",
    )
    entry = {key: body.get(key) for key in keys}
    entry["arn"] = arn
    entry["status"] = body.get("state", {}).get("status")
    return _compact(entry)


def _summary(row: ResourceRow) -> dict[str, Any]:
    body = row.body
    keys = (
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
    return _compact({**{key: body.get(key) for key in keys}, "tags": row.tags or None})


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
