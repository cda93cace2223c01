"""Image scan findings: ListImageScanFindings and ListImageScanFindingAggregations.

Findings are the snapshots CollectImageScanFindings stored (kiln.engine.scan_step), per account
and region: another account sees none of them. A deleted image's findings are not listed.

Aggregations group the caller's findings by the filter's name (the aggregation type), one
response per key the filter's values name; without a filter, one for the caller's account.
Each carries AWS's SeverityCounts: all findings, and critical, high and medium ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from kiln.scan import severity_counts
from kiln.services.context import RequestContext
from kiln.services.imagebuilder.errors import InvalidRequestException
from kiln.store.scan_schema import ScanFindingRow
from kiln.store.schema import ResourceRow

_FINDING_FILTERS: Mapping[str, Callable[[ScanFindingRow], str | None]] = {
    "imageBuildVersionArn": lambda row: row.image_arn,
    "imagePipelineArn": lambda row: row.pipeline_arn,
    "vulnerabilityId": lambda row: row.vulnerability_id,
    "severity": lambda row: row.severity,
}
_AGGREGATIONS: Mapping[str, tuple[str, str]] = {
    "accountId": ("accountAggregation", "accountId"),
    "imageBuildVersionArn": ("imageAggregation", "imageBuildVersionArn"),
    "imagePipelineArn": ("imagePipelineAggregation", "imagePipelineArn"),
    "vulnerabilityId": ("vulnerabilityIdAggregation", "vulnerabilityId"),
}
"""Filter name → (the ImageScanFindingAggregation member, its key member)."""
_KEYS: Mapping[str, Callable[[ScanFindingRow], str | None]] = {
    "accountId": lambda row: row.account,
    **{name: _FINDING_FILTERS[name] for name in _AGGREGATIONS if name != "accountId"},
}


def list_image_scan_findings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = _findings(ctx)
    for spec in params.get("filters") or []:
        name = str(spec.get("name"))
        extract = _FINDING_FILTERS.get(name)
        if extract is None:
            raise InvalidRequestException(
                f"The filter name '{name}' is not valid. Valid filter names: "
                f"{', '.join(_FINDING_FILTERS)}."
            )
        wanted = {str(v) for v in spec.get("values") or []}
        rows = [row for row in rows if extract(row) in wanted]
    page, token = ctx.tokens.page(
        "ListImageScanFindings",
        [row.finding for row in rows],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"findings": page, "nextToken": token}


def list_image_scan_finding_aggregations(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    spec = params.get("filter") or {}
    kind = str(spec.get("name") or "accountId")
    if kind not in _AGGREGATIONS:
        raise InvalidRequestException(
            f"The filter name '{kind}' is not valid. Valid filter names: "
            f"{', '.join(_AGGREGATIONS)}."
        )
    values = [str(v) for v in spec.get("values") or []]
    responses = aggregate(_findings(ctx), kind, values or None, account=ctx.account)
    page, token = ctx.tokens.page(
        f"ListImageScanFindingAggregations:{kind}",
        responses,
        max_results=None,
        next_token=params.get("nextToken"),
    )
    return {"aggregationType": kind, "responses": page, "nextToken": token}


def aggregate(
    rows: list[ScanFindingRow], kind: str, values: list[str] | None, *, account: str
) -> list[dict[str, Any]]:
    """One ImageScanFindingAggregation per key: the values asked for (in their order) that have
    findings, or every key that has; the caller's account always has its aggregation."""
    member, key_member = _AGGREGATIONS[kind]
    extract = _KEYS[kind]
    severities: dict[str, list[str]] = {}
    for row in rows:
        key = extract(row)
        if key is not None:
            severities.setdefault(key, []).append(row.severity)
    if kind == "accountId":
        severities.setdefault(account, [])
    keys = list(dict.fromkeys(values)) if values else sorted(severities)
    return [
        {member: {key_member: key, "severityCounts": severity_counts(severities[key])}}
        for key in keys
        if key in severities
    ]


def _findings(ctx: RequestContext) -> list[ScanFindingRow]:
    images = select(ResourceRow.arn).where(
        ResourceRow.account == ctx.account,
        ResourceRow.region == ctx.region,
        ResourceRow.resource_type == "image",
    )
    query = (
        select(ScanFindingRow)
        .where(
            ScanFindingRow.account == ctx.account,
            ScanFindingRow.region == ctx.region,
            ScanFindingRow.image_arn.in_(images),
        )
        .order_by(ScanFindingRow.id)
    )
    return list(ctx.session.scalars(query))
