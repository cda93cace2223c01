"""EC2 launch templates: CreateLaunchTemplate, DescribeLaunchTemplates, ModifyLaunchTemplate,
DeleteLaunchTemplate, and what Image Builder's distribution does with them
(`apply_launch_template_configuration`: a new version whose ImageId is the new AMI).

Versions are in kiln.services.ec2.launch_template_versions; rows and errors in
kiln.services.ec2.launch_template_rows. This module needs no server: the engine imports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from kiln.core.arn import PARTITION, Arn
from kiln.services.context import RequestContext
from kiln.services.ec2 import launch_template_filters as filters
from kiln.services.ec2 import launch_template_rows as rows
from kiln.services.ec2 import tags as ec2_tags
from kiln.services.ec2.errors import InvalidParameterValue
from kiln.services.ec2.launch_template_rows import (
    LaunchTemplateNameNotFound,
    LaunchTemplateNotFound,
)

__all__ = [
    "LaunchTemplateNotFound",
    "apply_launch_template_configuration",
    "create_launch_template",
    "delete_launch_template",
    "describe_launch_templates",
    "modify_launch_template",
    "request_arn",
]

_DESCRIBE_IDS_NOT_FOUND = (
    "At least one of the launch templates specified in the request does not exist."
)
_SERVICE_ROLE = "aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder"


def create_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tag_specifications(params.get("TagSpecifications"))
    rows.dry_run(params)
    template, _first = rows.create(
        ctx.session,
        account=ctx.account,
        region=ctx.region,
        name=params["LaunchTemplateName"],
        data=params.get("LaunchTemplateData") or {},
        description=params.get("VersionDescription"),
        created_by=ctx.caller.arn,
        tags=tags,
        now=ctx.now,
    )
    return {"LaunchTemplate": rows.template_shape(template)}


def describe_launch_templates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows.dry_run(params)
    found = rows.in_scope(ctx.session, account=ctx.account, region=ctx.region)
    ids = params.get("LaunchTemplateIds")
    names = params.get("LaunchTemplateNames")
    if ids:
        for template_id in ids:
            rows.check_id(template_id)
        if not set(ids) <= {row.launch_template_id for row in found}:
            raise LaunchTemplateNotFound(_DESCRIBE_IDS_NOT_FOUND)
        found = [row for row in found if row.launch_template_id in set(ids)]
    if names:
        if not set(names) <= {row.name for row in found}:
            raise LaunchTemplateNameNotFound(_DESCRIBE_IDS_NOT_FOUND)
        found = [row for row in found if row.name in set(names)]
    views = [rows.template_shape(row) for row in found]
    matched = filters.matching(views, params.get("Filters"), filters.TEMPLATE_FILTERS)
    page, token = filters.page(ctx, "DescribeLaunchTemplates", matched, params)
    output: dict[str, Any] = {"LaunchTemplates": page}
    if token:
        output["NextToken"] = token
    return output


def modify_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    template = rows.named(ctx.session, params, account=ctx.account, region=ctx.region, lock=True)
    rows.dry_run(params)
    default = params.get("DefaultVersion")
    if default is not None:
        template.default_version = rows.version(ctx.session, template, str(default)).version_number
    return {"LaunchTemplate": rows.template_shape(template)}


def delete_launch_template(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    template = rows.named(ctx.session, params, account=ctx.account, region=ctx.region, lock=True)
    rows.dry_run(params)
    shape = rows.template_shape(template)
    rows.delete(ctx.session, template)
    return {"LaunchTemplate": shape}


def apply_launch_template_configuration(
    session: Session,
    *,
    account: str,
    region: str,
    launch_template_id: str,
    ami_id: str,
    set_default: bool,
    now: dt.datetime,
) -> int:
    """What distribution does for a launchTemplateConfiguration: a new version of the template,
    based on its default version, with ImageId = `ami_id`; the default when `set_default`.
    Returns the new version number; LaunchTemplateNotFound when `account` has no such template
    in `region`."""
    template = rows.by_id(
        session, account=account, region=region, launch_template_id=launch_template_id, lock=True
    )
    if template is None:
        raise LaunchTemplateNotFound(
            f"The launch template {launch_template_id} does not exist in account {account} in "
            f"{region}; Image Builder cannot set the AMI {ami_id} on it."
        )
    source = rows.version(session, template, rows.DEFAULT)
    created = rows.add_version(
        session,
        template,
        data=rows.merged_data(source.data, {"ImageId": ami_id}),
        description=None,
        created_by=str(Arn(PARTITION, "iam", "", account, f"role/{_SERVICE_ROLE}")),
        now=now,
    )
    if set_default:
        template.default_version = created.version_number
    return created.version_number


def request_arn(
    session: Session, *, operation: str, params: Mapping[str, Any], account: str, region: str
) -> str | None:
    """The launch template ARN an EC2 request acts on, for authorisation; None when the request
    is not about one launch template. A name is looked up in the caller's account and region;
    a creation, or a template not found, is `launch-template/*`."""
    if operation == "CreateLaunchTemplate":
        return rows.arn(region=region, account=account, launch_template_id="*")
    if "LaunchTemplate" not in operation or operation.startswith("Describe"):
        return None
    template_id = params.get("LaunchTemplateId")
    name = params.get("LaunchTemplateName")
    if not isinstance(template_id, str) and isinstance(name, str):
        row = rows.by_name(session, account=account, region=region, name=name)
        template_id = row.launch_template_id if row is not None else None
    if not isinstance(template_id, str):
        template_id = "*"
    return rows.arn(region=region, account=account, launch_template_id=template_id)


def _tag_specifications(specs: list[dict[str, Any]] | None) -> dict[str, str]:
    """The tags CreateLaunchTemplate puts on the template (resource type launch-template),
    checked as CreateTags checks them."""
    tags: dict[str, str] = {}
    for spec in specs or []:
        kind = spec.get("ResourceType")
        if kind != rows.RESOURCE_TYPE:
            raise InvalidParameterValue(
                f"'{kind}' is not a valid taggable resource type for this operation."
            )
        tags.update(ec2_tags.tag_map(spec.get("Tags")))
    return ec2_tags.checked_total(tags)
