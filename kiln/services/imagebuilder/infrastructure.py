"""Infrastructure configurations: where and how build and test instances run."""

from __future__ import annotations

from typing import Any

from kiln.services.context import RequestContext
from kiln.services.imagebuilder.infra_checks import (
    check_instance_types,
    check_logging,
    check_placement,
)
from kiln.services.imagebuilder.infra_named import NamedFamily, pick, view
from kiln.services.imagebuilder.passrole import require_instance_profile
from kiln.store.schema import ResourceRow

RESOURCE = "infrastructure-configuration"
MEMBER = "infrastructureConfigurationArn"
# The configuration members of Create/Update, stored as the InfrastructureConfiguration shape.
_MEMBERS = (
    "description",
    "instanceTypes",
    "instanceProfileName",
    "securityGroupIds",
    "subnetId",
    "logging",
    "keyPair",
    "terminateInstanceOnFailure",
    "snsTopicArn",
    "resourceTags",
    "instanceMetadataOptions",
    "placement",
)
_FILTERS = {"name": lambda body: [body.get("name")]}
_SUMMARY = (
    "arn",
    "name",
    "description",
    "dateCreated",
    "dateUpdated",
    "resourceTags",
    "tags",
    "instanceTypes",
    "instanceProfileName",
    "placement",
)


def infrastructure_configuration_view(row: ResourceRow) -> dict[str, Any]:
    """The InfrastructureConfiguration shape (also embedded in images)."""
    return view(row)


def _configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The configuration a Create or Update request describes, checked."""
    check_instance_types(params.get("instanceTypes"))
    check_logging(params.get("logging"))
    check_placement(params.get("placement"), region=ctx.region)
    # What the profile's role may do is checked when a build starts (kiln.engine.prerequisites).
    require_instance_profile(ctx, params["instanceProfileName"])
    body = {member: params.get(member) for member in _MEMBERS}
    if body["terminateInstanceOnFailure"] is None:
        body["terminateInstanceOnFailure"] = True
    return body


FAMILY = NamedFamily(
    resource_type=RESOURCE,
    member=MEMBER,
    shape="infrastructureConfiguration",
    list_operation="ListInfrastructureConfigurations",
    list_key="infrastructureConfigurationSummaryList",
    configure=_configuration,
    summary=lambda row: pick(row, _SUMMARY),
    filters=_FILTERS,
)
create_infrastructure_configuration = FAMILY.create
get_infrastructure_configuration = FAMILY.get
update_infrastructure_configuration = FAMILY.update
delete_infrastructure_configuration = FAMILY.delete
list_infrastructure_configurations = FAMILY.list
