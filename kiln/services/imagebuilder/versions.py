"""Finding versioned resources by ARN: build-version ARNs, version ARNs and `x` wildcards.

The rules (spec §0.3): a build-version ARN names one row; a version ARN names the latest build
of that version; a wildcard selects the highest matching version, then its latest build.
"""

from __future__ import annotations

import json
from typing import Any

from kiln.core.arn import ArnError, ImageBuilderArn, imagebuilder_arn, parse_imagebuilder_arn
from kiln.core.semver import Version, VersionSelector
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceDependencyException,
    ResourceNotFoundException,
)
from kiln.store import resources
from kiln.store.schema import ResourceRow

AMAZON_OWNER = "aws"


def parse(text: str, resource_type: str, *, member: str) -> ImageBuilderArn:
    try:
        return parse_imagebuilder_arn(text, resource_type=resource_type)
    except ArnError as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter '{member}' is not valid. {exc}"
        ) from exc


def resolve(ctx: RequestContext, arn: ImageBuilderArn) -> ResourceRow:
    """The row an ARN names in the caller's view; ResourceNotFoundException otherwise."""
    row = find(ctx, arn)
    if row is None:
        raise ResourceNotFoundException(f"The resource ARN '{arn}' does not exist.")
    return row


def find(ctx: RequestContext, arn: ImageBuilderArn) -> ResourceRow | None:
    if arn.region != ctx.region:
        return None
    if arn.is_build_version or arn.version is None:
        row = resources.by_arn(ctx.session, str(arn)) if arn.version is not None else None
        return row if row is not None and visible(ctx, row) else None
    rows = [
        row
        for row in resources.listing(
            ctx.session,
            resource_type=arn.resource_type,
            region=arn.region,
            owners=[arn.account],
            arn_name=arn.name,
        )
        if visible(ctx, row) and (arn.kind is None or row.body.get("type", "").lower() == arn.kind)
    ]
    return latest(rows, arn.version)


def latest(rows: list[ResourceRow], selector: VersionSelector) -> ResourceRow | None:
    """Highest matching version, then highest build (the first of equal versions wins, so the
    rows go in newest build first)."""
    newest_first = sorted(rows, key=_build_key, reverse=True)
    return selector.latest((version_of(row), row) for row in newest_first)


def _build_key(row: ResourceRow) -> int:
    return row.build or 0


def latest_builds(rows: list[ResourceRow]) -> list[ResourceRow]:
    """One row per version (owner, workflow kind, name, version): its highest build, sorted."""
    best: dict[tuple[str, str, str, str | None], ResourceRow] = {}
    for row in rows:
        key = (row.owner, _kind(row), row.arn_name, row.version)
        if key not in best or (row.build or 0) > (best[key].build or 0):
            best[key] = row
    return sorted(best.values(), key=lambda r: (r.owner, r.arn_name, _kind(r), version_of(r)))


def _kind(row: ResourceRow) -> str:
    """Workflows of different types may share a name; other resources have one kind."""
    return str(row.body.get("type", "")) if row.resource_type == "workflow" else ""


def version_of(row: ResourceRow) -> Version:
    return Version(row.major or 0, row.minor or 0, row.patch or 0)


def visible(ctx: RequestContext, row: ResourceRow) -> bool:
    """Owned by the caller, Amazon-managed, or shared with the caller by a resource policy."""
    if row.owner in (ctx.account, AMAZON_OWNER):
        return True
    return shared_with(row, ctx.account)


def shared_with(row: ResourceRow, account: str) -> bool:
    """Whether the row's resource policy names the account as a principal (read sharing)."""
    if not row.policy:
        return False
    try:
        doc = json.loads(row.policy)
    except ValueError:
        return False
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        names = principal.get("AWS", []) if isinstance(principal, dict) else principal
        if isinstance(names, str):
            names = [names]
        for name in names:
            if name in ("*", account, f"arn:aws:iam::{account}:root"):
                return True
    return False


def require_owner(ctx: RequestContext, row: ResourceRow, *, noun: str, named: str) -> None:
    """Only the owner deletes a resource (`named` is the ARN as the request gave it)."""
    if row.owner != ctx.account:
        raise InvalidParameterValueException(
            f"The {noun} '{named}' is not owned by account {ctx.account} and cannot be deleted."
        )


def remove_unused(ctx: RequestContext, row: ResourceRow, *, noun: str) -> None:
    """Delete a row nothing uses; ResourceDependencyException naming its users otherwise."""
    users = resources.referrers(ctx.session, row.arn)
    if users:
        raise ResourceDependencyException(
            f"The {noun} '{row.arn}' cannot be deleted: it is used by {', '.join(users)}."
        )
    resources.remove(ctx.session, row)


def latest_version_references(row: ResourceRow, *, kind: str | None = None) -> dict[str, Any]:
    version = version_of(row)
    patterns = {
        "latestVersionArn": "x.x.x",
        "latestMajorVersionArn": f"{version.major}.x.x",
        "latestMinorVersionArn": f"{version.major}.{version.minor}.x",
        "latestPatchVersionArn": str(version),
    }
    return {
        key: str(
            imagebuilder_arn(
                region=row.region,
                account=row.owner,
                resource_type=row.resource_type,
                name=row.arn_name,
                version=pattern,
                kind=kind,
            )
        )
        for key, pattern in patterns.items()
    }


def owners_for(ctx: RequestContext, owner: str | None) -> list[str] | None:
    """Owner accounts a List call with `owner=` shows; None means 'filter by sharing'."""
    if owner in (None, "Self"):
        return [ctx.account]
    if owner == "Amazon":
        return [AMAZON_OWNER]
    if owner == "Shared":
        return None
    return []  # ThirdParty / AWSMarketplace: Kiln has no third-party publishers


def rows_for_owner(ctx: RequestContext, resource_type: str, owner: str | None) -> list[ResourceRow]:
    owners = owners_for(ctx, owner)
    if owners is not None:
        if not owners:
            return []
        return resources.listing(
            ctx.session, resource_type=resource_type, region=ctx.region, owners=owners
        )
    everyone = resources.listing(ctx.session, resource_type=resource_type, region=ctx.region)
    return [
        row
        for row in everyone
        if row.owner not in (ctx.account, AMAZON_OWNER) and shared_with(row, ctx.account)
    ]
