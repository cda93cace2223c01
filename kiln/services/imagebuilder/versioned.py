"""What versioned resources (components, workflows, images) share when they are written and
listed: the document a request carries, the semantic version, the next build of a version, and
the list entries and pages of ListX / ListXBuildVersions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kiln.core.arn import ImageBuilderArn
from kiln.core.semver import Version
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    InvalidVersionNumberException,
)
from kiln.services.imagebuilder.uris import read_document_uri
from kiln.store import resources
from kiln.store.schema import ResourceRow


def document_text(ctx: RequestContext, params: Mapping[str, Any], *, noun: str) -> str:
    """The document of a Create request: inline `data` or the object `uri` names, not both."""
    data, uri = params.get("data"), params.get("uri")
    if data and uri:
        raise InvalidParameterCombinationException(
            f"You can specify either 'data' or 'uri' for a {noun}, not both."
        )
    if uri:
        data = read_document_uri(ctx, str(uri), member="uri")
    if not data:
        raise InvalidParameterValueException(
            f"A {noun} needs a document: specify 'data' (inline YAML) or 'uri'."
        )
    return str(data)


def semantic_version(text: str) -> Version:
    try:
        return Version.parse(text)
    except ValueError as exc:
        raise InvalidVersionNumberException(str(exc)) from exc


def add_build(
    ctx: RequestContext,
    *,
    resource_type: str,
    version_arn: ImageBuilderArn,
    name: str,
    version: Version,
    body: Callable[[str], dict[str, Any]],
    tags: Mapping[str, str] | None,
) -> ResourceRow:
    """The next build of a version: its ARN gets a never-reused build number, `body(arn)` is
    the resource's shape."""
    build = resources.next_build(ctx.session, str(version_arn))
    arn = version_arn.with_version(str(version), build)
    return resources.add(
        ctx.session,
        ctx.scope,
        resource_type=resource_type,
        arn=str(arn),
        name=name,
        arn_name=arn.name,
        body=body(str(arn)),
        tags=dict(tags or {}),
        now=ctx.now,
        version=version,
        build=build,
    )


def builds_of(ctx: RequestContext, arn: ImageBuilderArn, resource_type: str) -> list[ResourceRow]:
    """The visible build versions a version ARN names (all versions when it has none)."""
    rows = resources.listing(
        ctx.session,
        resource_type=resource_type,
        region=arn.region,
        owners=[arn.account],
        arn_name=arn.name,
        version=str(arn.version) if arn.version is not None else None,
    )
    return [row for row in rows if versions.visible(ctx, row)]


def page(
    ctx: RequestContext, operation: str, items: list[dict[str, Any]], params: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    return ctx.tokens.page(
        operation, items, max_results=params.get("maxResults"), next_token=params.get("nextToken")
    )


def version_entry(body: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """A ListX entry: the version's ARN (without the build) and the named members."""
    entry = {key: body.get(key) for key in keys}
    entry["arn"] = str(body["arn"]).rsplit("/", 1)[0]
    return compact(entry)


def summary(row: ResourceRow, keys: Sequence[str]) -> dict[str, Any]:
    """A ListXBuildVersions entry: the named members of the body and the row's tags."""
    return compact({**{key: row.body.get(key) for key in keys}, "tags": row.tags or None})


def compact(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}
