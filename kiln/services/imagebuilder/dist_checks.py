"""Checks of a distribution configuration's `distributions`: one entry per known region, name
templates that render to valid AMI names and container tags, and the cross-member rules of
launch permissions, launch templates, SSM parameters and fast launch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kiln.core.nametemplate import NameKind, parse_name_template
from kiln.core.regions import is_known_region, known_regions
from kiln.services.imagebuilder.container_recipes import check_target_repository
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
)
from kiln.services.imagebuilder.infra_checks import check_bucket_name

USER_GROUPS = ("all",)


def check_distributions(
    distributions: Sequence[dict[str, Any]],
    *,
    account: str,
    configured_regions: Iterable[str] | None = None,
) -> None:
    """`account` distributes; `configured_regions` is the deployment's region set, if any."""
    if not distributions:
        raise InvalidParameterValueException(
            "A distribution configuration needs at least one distribution (one per region)."
        )
    seen: set[str] = set()
    regions = known_regions(configured_regions)
    for distribution in distributions:
        region = distribution["region"]
        if not is_known_region(region, regions):
            raise InvalidParameterValueException(
                f"The region '{region}' is not a region Kiln knows. Known regions: "
                f"{', '.join(sorted(regions))}."
            )
        if region in seen:
            raise InvalidParameterValueException(
                f"The region '{region}' has more than one distribution; "
                "give each region one distribution."
            )
        seen.add(region)
        _check_distribution(region, distribution, account)


def _check_distribution(region: str, distribution: dict[str, Any], account: str) -> None:
    ami = distribution.get("amiDistributionConfiguration")
    if ami:
        _check_ami(region, ami)
    container = distribution.get("containerDistributionConfiguration")
    if container:
        _check_container(region, container)
    _unique_accounts(
        region, "launchTemplateConfigurations", distribution.get("launchTemplateConfigurations")
    )
    _check_fast_launch(region, distribution.get("fastLaunchConfigurations") or [])
    _check_ssm_parameters(
        region, account, ami or {}, distribution.get("ssmParameterConfigurations") or []
    )
    export = distribution.get("s3ExportConfiguration")
    if export:
        check_bucket_name(export["s3Bucket"], member=f"{region}: s3ExportConfiguration.s3Bucket")


def _check_ami(region: str, ami: dict[str, Any]) -> None:
    if ami.get("name") is not None:
        parse_name_template(ami["name"], kind=NameKind.AMI)
    groups = (ami.get("launchPermission") or {}).get("userGroups") or []
    for group in groups:
        if group not in USER_GROUPS:
            raise InvalidParameterValueException(
                f"{region}: launchPermission.userGroups '{group}' is not a group; the only "
                "launch permission group is 'all' (public)."
            )


def _check_container(region: str, container: dict[str, Any]) -> None:
    check_target_repository(
        container["targetRepository"],
        member=f"{region}: containerDistributionConfiguration.targetRepository",
    )
    for tag in container.get("containerTags") or []:
        parse_name_template(tag, kind=NameKind.CONTAINER_TAG)


def _unique_accounts(region: str, member: str, items: Sequence[dict[str, Any]] | None) -> None:
    seen: set[str | None] = set()
    for item in items or []:
        account = item.get("accountId")
        if account in seen:
            shown = account or "the distributing account"
            raise InvalidParameterValueException(
                f"{region}: {member} has more than one entry for {shown}."
            )
        seen.add(account)


def _check_fast_launch(region: str, configurations: Sequence[dict[str, Any]]) -> None:
    _unique_accounts(region, "fastLaunchConfigurations", configurations)
    for configuration in configurations:
        template = configuration.get("launchTemplate") or {}
        if template.get("launchTemplateId") and template.get("launchTemplateName"):
            raise InvalidParameterCombinationException(
                f"{region}: a fast launch template is named by launchTemplateId or "
                "launchTemplateName, not both."
            )


def _check_ssm_parameters(
    region: str, account: str, ami: dict[str, Any], parameters: Sequence[dict[str, Any]]
) -> None:
    targets = {account, *(ami.get("targetAccountIds") or [])}
    seen: set[tuple[str | None, str]] = set()
    for parameter in parameters:
        owner = parameter.get("amiAccountId")
        key = (owner, parameter["parameterName"])
        if key in seen:
            raise InvalidParameterValueException(
                f"{region}: the SSM parameter '{parameter['parameterName']}' is configured twice "
                "for the same account."
            )
        seen.add(key)
        if owner is not None and owner not in targets:
            raise InvalidParameterCombinationException(
                f"{region}: ssmParameterConfigurations names account {owner}, which is not "
                "among amiDistributionConfiguration.targetAccountIds of this region."
            )
