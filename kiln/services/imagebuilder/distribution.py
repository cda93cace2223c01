"""Distribution configurations: where finished images go (regions, accounts, registries)."""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.imagebuilder.dist_checks import check_distributions
from kiln.services.imagebuilder.infra_named import (
    create_named,
    delete_named,
    find_named,
    list_named,
    pick,
    replace_named,
    view,
)
from kiln.store.schema import ResourceRow

RESOURCE = "distribution-configuration"
MEMBER = "distributionConfigurationArn"
# Image Builder's distribution timeout; the API has no member to change it.
TIMEOUT_MINUTES = 720
_FILTERS = {"name": lambda body: [body.get("name")]}
_SUMMARY = ("arn", "name", "description", "dateCreated", "dateUpdated", "tags")


def create_distribution_configuration(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    row = create_named(
        ctx,
        RESOURCE,
        name=params["name"],
        body=_configuration(ctx, params),
        tags=params.get("tags"),
    )
    return {"clientToken": params.get("clientToken"), MEMBER: row.arn}


def get_distribution_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = find_named(ctx, RESOURCE, params[MEMBER], member=MEMBER)
    return {"distributionConfiguration": distribution_configuration_view(row)}


def distribution_configuration_view(row: ResourceRow) -> dict[str, Any]:
    """The DistributionConfiguration shape (also embedded in images)."""
    return view(row)


def update_distribution_configuration(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    row = find_named(ctx, RESOURCE, params[MEMBER], member=MEMBER)
    replace_named(ctx, row, _configuration(ctx, params))
    return {"clientToken": params.get("clientToken"), MEMBER: row.arn}


def delete_distribution_configuration(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    return {MEMBER: delete_named(ctx, RESOURCE, params[MEMBER], member=MEMBER)}


def list_distribution_configurations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page, token = list_named(
        ctx,
        RESOURCE,
        params,
        operation="ListDistributionConfigurations",
        filters=_FILTERS,
        summary=_summary,
    )
    return {"distributionConfigurationSummaryList": page, "nextToken": token}


def _summary(row: ResourceRow) -> dict[str, Any]:
    summary = pick(row, _SUMMARY)
    summary["regions"] = [d["region"] for d in row.body.get("distributions") or []]
    return summary


def _configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    # Regions: the deployment's configured set once settings carry one (standard table today).
    check_distributions(params["distributions"], account=ctx.account)
    return {
        "description": params.get("description"),
        "distributions": params["distributions"],
        "timeoutMinutes": TIMEOUT_MINUTES,
    }
