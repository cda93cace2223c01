"""Distribution configurations: where finished images go (regions, accounts, registries)."""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.imagebuilder.dist_checks import check_distributions
from kiln.services.imagebuilder.infra_named import NamedFamily, pick, view
from kiln.store.schema import ResourceRow

RESOURCE = "distribution-configuration"
MEMBER = "distributionConfigurationArn"
# Image Builder's distribution timeout; the API has no member to change it.
TIMEOUT_MINUTES = 720
_FILTERS = {"name": lambda body: [body.get("name")]}
_SUMMARY = ("arn", "name", "description", "dateCreated", "dateUpdated", "tags")


def distribution_configuration_view(row: ResourceRow) -> dict[str, Any]:
    """The DistributionConfiguration shape (also embedded in images)."""
    return view(row)


def _summary(row: ResourceRow) -> dict[str, Any]:
    summary = pick(row, _SUMMARY)
    summary["regions"] = [d["region"] for d in row.body.get("distributions") or []]
    return summary


def _configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_distributions(
        params["distributions"], account=ctx.account, configured_regions=ctx.regions
    )
    return {
        "description": params.get("description"),
        "distributions": params["distributions"],
        "timeoutMinutes": TIMEOUT_MINUTES,
    }


FAMILY = NamedFamily(
    resource_type=RESOURCE,
    member=MEMBER,
    shape="distributionConfiguration",
    list_operation="ListDistributionConfigurations",
    list_key="distributionConfigurationSummaryList",
    configure=_configuration,
    summary=_summary,
    filters=_FILTERS,
)
create_distribution_configuration = FAMILY.create
get_distribution_configuration = FAMILY.get
update_distribution_configuration = FAMILY.update
delete_distribution_configuration = FAMILY.delete
list_distribution_configurations = FAMILY.list
