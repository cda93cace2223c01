"""Named configuration resources: one row per name, ARN `.../TYPE/NAME` with no version
(infrastructure and distribution configurations). Names are unique per account and region;
an update replaces the configuration but keeps arn, name, dateCreated and tags."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kiln.core.arn import ArnError, imagebuilder_arn, parse_imagebuilder_arn
from kiln.core.clock import aws_datetime
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.filters import Extractor, apply_filters
from kiln.store import resources
from kiln.store.schema import ResourceRow

NOUNS = {
    "infrastructure-configuration": "infrastructure configuration",
    "distribution-configuration": "distribution configuration",
}


def create_named(
    ctx: RequestContext,
    resource_type: str,
    *,
    name: str,
    body: dict[str, Any],
    tags: Mapping[str, str] | None,
) -> ResourceRow:
    arn = imagebuilder_arn(
        region=ctx.region, account=ctx.account, resource_type=resource_type, name=name
    )
    if resources.by_arn(ctx.session, str(arn)) is not None:
        raise ResourceAlreadyExistsException(f"The {NOUNS[resource_type]} '{arn}' already exists.")
    full = {"arn": str(arn), "name": name, **body, "dateCreated": aws_datetime(ctx.now)}
    return resources.add(
        ctx.session,
        ctx.scope,
        resource_type=resource_type,
        arn=str(arn),
        name=name,
        arn_name=arn.name,
        body=compact(full),
        tags=dict(tags or {}),
        now=ctx.now,
    )


def find_named(ctx: RequestContext, resource_type: str, text: str, *, member: str) -> ResourceRow:
    """The caller's resource an ARN names; ResourceNotFoundException otherwise."""
    try:
        parse_imagebuilder_arn(text, resource_type=resource_type)
    except ArnError as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter '{member}' is not valid. {exc}"
        ) from exc
    row = resources.by_arn(ctx.session, text)
    if row is None or row.account != ctx.account or row.region != ctx.region:
        raise ResourceNotFoundException(f"The {NOUNS[resource_type]} '{text}' does not exist.")
    return row


def replace_named(ctx: RequestContext, row: ResourceRow, body: dict[str, Any]) -> None:
    """Update: the new configuration replaces the old; members not given are cleared."""
    kept: dict[str, Any] = {
        key: row.body[key] for key in ("arn", "name", "dateCreated") if key in row.body
    }
    row.body = compact({**kept, **body, "dateUpdated": aws_datetime(ctx.now)})
    row.updated_at = ctx.now


def delete_named(ctx: RequestContext, resource_type: str, text: str, *, member: str) -> str:
    row = find_named(ctx, resource_type, text, member=member)
    versions.remove_unused(ctx, row, noun=NOUNS[resource_type])
    return row.arn


def list_named(
    ctx: RequestContext,
    resource_type: str,
    params: dict[str, Any],
    *,
    operation: str,
    filters: Mapping[str, Extractor],
    summary: Callable[[ResourceRow], dict[str, Any]],
) -> tuple[list[dict[str, Any]], str | None]:
    rows = sorted(
        (
            row
            for row in resources.listing(
                ctx.session, resource_type=resource_type, region=ctx.region, owners=[ctx.account]
            )
            if row.account == ctx.account
        ),
        key=lambda row: row.arn_name,
    )
    by_arn = {row.arn: row for row in rows}
    bodies = apply_filters([row.body for row in rows], params.get("filters"), filters)
    return ctx.tokens.page(
        operation,
        [summary(by_arn[body["arn"]]) for body in bodies],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )


def view(row: ResourceRow) -> dict[str, Any]:
    return compact({**row.body, "tags": row.tags or None})


def pick(row: ResourceRow, keys: tuple[str, ...]) -> dict[str, Any]:
    body = view(row)
    return compact({key: body.get(key) for key in keys})


def compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True)
class NamedFamily:
    """The five operations of one named configuration type (Create, Get, Update, Delete,
    List), differing only in how a request becomes a configuration and how a row is listed."""

    resource_type: str
    member: str
    shape: str
    list_operation: str
    list_key: str
    configure: Callable[[RequestContext, dict[str, Any]], dict[str, Any]]
    summary: Callable[[ResourceRow], dict[str, Any]]
    filters: Mapping[str, Extractor]

    def create(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        body = self.configure(ctx, params)
        row = create_named(
            ctx, self.resource_type, name=params["name"], body=body, tags=params.get("tags")
        )
        return {"clientToken": params.get("clientToken"), self.member: row.arn}

    def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = find_named(ctx, self.resource_type, params[self.member], member=self.member)
        return {self.shape: view(row)}

    def update(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = find_named(ctx, self.resource_type, params[self.member], member=self.member)
        replace_named(ctx, row, self.configure(ctx, params))
        return {"clientToken": params.get("clientToken"), self.member: row.arn}

    def delete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = delete_named(ctx, self.resource_type, params[self.member], member=self.member)
        return {self.member: arn}

    def list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        page, token = list_named(
            ctx,
            self.resource_type,
            params,
            operation=self.list_operation,
            filters=self.filters,
            summary=self.summary,
        )
        return {self.list_key: page, "nextToken": token}
