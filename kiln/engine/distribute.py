"""AMI distribution: the distribution workflow's step actions for AMIs.

    DistributeImage           for each region of the distribution configuration: the
                              distributing account's AMI there (the build's own AMI in the build
                              region, a copy elsewhere), named from the name template, described,
                              tagged, with its KMS key and launch permissions; then for each
                              target account a copy it owns, once its cross-account role allows
                              it (kiln.engine.cross_account)
    ModifyImageAttributes     the launch permissions of each region, on the distributing
                              account's AMIs (DistributeImage already applies them per region)
    ApplyImageConfigurations  launch templates and SSM parameters, where Kiln can honour them

Every (region, account) distribution runs even when another fails, as AWS's do; the step then
fails naming every failed account, role and what is missing, and the copies that were made stay.
A distribution re-run (RetryImage) finds the copies it made by image ARN and makes only the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from kiln.amis import registry
from kiln.amis.copies import copy_ami
from kiln.amis.disks import ImageStoreError
from kiln.amis.registry import Ami, DuplicateAmiNameError
from kiln.amis.stores import ImageStores
from kiln.core.clock import utcnow
from kiln.core.errors import BuildError, ClientError, KilnError
from kiln.core.nametemplate import render_ami_name
from kiln.engine import cross_account, executions, ledger
from kiln.engine.context import BuildRun
from kiln.engine.ledger import LedgerKind
from kiln.engine.plan import AmiTarget
from kiln.engine.s3_export import export_ami
from kiln.services.ec2.launch_templates import apply_launch_template_configuration
from kiln.store import resources

logger = logging.getLogger(__name__)

CREATED_BY = {"CreatedBy": "EC2 Image Builder"}
BUILDER_ARN_TAG = "Ec2ImageBuilderArn"


def targets(run: BuildRun) -> tuple[AmiTarget, ...]:
    """The plan's regions; without a distribution configuration, the build region alone."""
    return run.plan.ami_targets or (AmiTarget(region=run.region),)


# -- DistributeImage ---------------------------------------------------------------------------


def distribute_amis(run: BuildRun) -> dict[str, Any]:
    source = _source(run)
    stores = run.config.stores()
    when = build_date(run)
    made: list[dict[str, Any]] = []
    exports: list[dict[str, Any]] = []
    failures: list[str] = []
    for target in targets(run):
        try:
            own = _own_copy(run, stores, source, target, when)
        except (KilnError, OSError) as exc:
            failures.append(f"Distribution to region {target.region} failed: {exc}")
            continue
        made.append(_entry(own))
        if target.s3_export:
            try:
                exports.append(export_ami(run, stores, own, target.s3_export))
            except KilnError as exc:
                failures.append(str(exc))
        for account in target.target_account_ids:
            if account == run.account:
                continue
            try:
                made.append(_entry(_account_copy(run, stores, own, target, account)))
            except (KilnError, OSError) as exc:
                failures.append(f"{exc} (region {target.region})")
    if failures:
        raise BuildError(" ".join(failures))
    return {"distributedImages": made, "s3Exports": exports}


def _entry(ami: Ami) -> dict[str, Any]:
    return {"region": ami.region, "accountId": ami.account, "image": ami.ami_id}


def _source(run: BuildRun) -> Ami:
    """The AMI to distribute: DistributeImage's source, or the one the build created, which
    from now on outlives the build (its ledger entry is released)."""
    with run.database.transaction() as session:
        ami_id = run.plan.source_ami or executions.created_ami(session, run.image_arn)
        found = registry.get(session, ami_id) if ami_id else None
        if found is None:
            raise BuildError(
                f"there is no AMI to distribute: {ami_id or 'the build created none'} is not "
                "registered"
            )
        for entry in ledger.outstanding(session, run.image_arn):
            if entry.kind == LedgerKind.IMAGE.value and entry.ref == found.ami_id:
                entry.released_at = utcnow()
        return found


def build_date(run: BuildRun) -> dt.datetime:
    """`{{ imagebuilder:buildDate }}`: when the image was created (stable across retries)."""
    with run.database.transaction() as session:
        row = resources.by_arn(session, run.image_arn)
        created = str((row.body if row is not None else {}).get("dateCreated") or "")
    try:
        return dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return utcnow()


def ami_name(run: BuildRun, target: AmiTarget, when: dt.datetime) -> str:
    if target.name:
        return render_ami_name(target.name, build_date=when, build_version=run.build_number)
    return f"{run.name} {run.version}-{run.build_number}"


def launch_permissions(target: AmiTarget) -> list[dict[str, str]]:
    """`launchPermission` as EC2 keeps it (UserId, Group, OrganizationArn, OU ARN)."""
    given = target.launch_permission
    found: list[dict[str, str]] = []
    for key, member in (
        ("UserId", "userIds"),
        ("Group", "userGroups"),
        ("OrganizationArn", "organizationArns"),
        ("OrganizationalUnitArn", "organizationalUnitArns"),
    ):
        found += [{key: str(value)} for value in given.get(member) or ()]
    return found


def _merged(
    current: tuple[dict[str, str], ...], added: list[dict[str, str]]
) -> list[dict[str, str]]:
    merged = [dict(p) for p in current]
    merged += [p for p in added if p not in merged]
    return merged


def _tags(run: BuildRun, target: AmiTarget) -> dict[str, str]:
    return {**CREATED_BY, BUILDER_ARN_TAG: run.image_arn, **target.ami_tags}


def _existing(session: Session, run: BuildRun, region: str, account: str) -> Ami | None:
    for ami in registry.of_image(session, run.image_arn):
        if ami.region == region and ami.account == account:
            return ami
    return None


def _own_copy(
    run: BuildRun, stores: ImageStores, source: Ami, target: AmiTarget, when: dt.datetime
) -> Ami:
    """The distributing account's AMI in the target region, as configured."""
    name = ami_name(run, target, when)
    with run.database.transaction() as session:
        same = source.image_arn == run.image_arn and source.region == target.region
        found = source if same else _existing(session, run, target.region, run.account)
        if found is not None:
            return _configure(session, run, found, target, name)
        return copy_ami(
            session,
            stores,
            source,
            region=target.region,
            account=run.account,
            name=name,
            now=utcnow(),
            description=target.description,
            image_arn=run.image_arn,
            tags=_tags(run, target),
            launch_permissions=launch_permissions(target),
            kms_key_id=target.kms_key_id,
        )


def _configure(session: Session, run: BuildRun, ami: Ami, target: AmiTarget, name: str) -> Ami:
    """Name, describe, tag and permit an AMI the distribution already has (the build's)."""
    changes: dict[str, Any] = {
        "tags": {**ami.tags, **_tags(run, target)},
        "launch_permissions": _merged(ami.launch_permissions, launch_permissions(target)),
    }
    if name != ami.name:
        if registry.name_taken(session, account=ami.account, region=ami.region, name=name):
            raise DuplicateAmiNameError(f"AMI name {name} is already in use by AMI in {ami.region}")
        changes["name"] = name
    if target.description is not None:
        changes["description"] = target.description
    if target.kms_key_id is not None:
        changes["kms_key_id"] = target.kms_key_id
    return registry.update(session, ami.ami_id, **changes)


def _account_copy(
    run: BuildRun, stores: ImageStores, own: Ami, target: AmiTarget, account: str
) -> Ami:
    """A copy owned by `account`, through its EC2ImageBuilderDistributionCrossAccountRole."""
    with run.database.transaction() as session:
        found = _existing(session, run, target.region, account)
        if found is not None:
            return found
        principal = cross_account.distributing_principal(
            session, account=run.account, execution_role=run.plan.execution_role
        )
        denial = cross_account.check_target(
            session, source=principal, target_account=account, region=target.region
        )
        if denial is not None:
            raise BuildError(denial.message)
        try:
            return copy_ami(
                session,
                stores,
                own,
                region=target.region,
                account=account,
                name=own.name,
                now=utcnow(),
                description=own.description,
                image_arn=run.image_arn,
                tags=_tags(run, target),
                kms_key_id=target.kms_key_id,
            )
        except (DuplicateAmiNameError, ImageStoreError) as exc:
            raise BuildError(f"Distribution to account {account} failed: {exc}") from exc


# -- ModifyImageAttributes -----------------------------------------------------------------------


def modify_image_attributes(run: BuildRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Add each region's launch permissions to the distributing account's AMIs there."""
    by_region = {target.region: target for target in targets(run)}
    modified: list[str] = []
    with run.database.transaction() as session:
        for ami in registry.of_image(session, run.image_arn):
            target = by_region.get(ami.region)
            if target is None or ami.account != run.account:
                continue
            wanted = _merged(ami.launch_permissions, launch_permissions(target))
            extra = inputs.get("launchPermission")
            if isinstance(extra, Mapping):
                wanted = _merged(tuple(wanted), launch_permissions(_with_permission(extra)))
            if wanted != list(ami.launch_permissions):
                registry.update(session, ami.ami_id, launch_permissions=wanted)
                modified.append(ami.ami_id)
    return {"modifiedImages": modified}


def _with_permission(permission: Mapping[str, Any]) -> AmiTarget:
    return AmiTarget(region="", launch_permission=dict(permission))


# -- ApplyImageConfigurations --------------------------------------------------------------------


def apply_image_configurations(run: BuildRun) -> dict[str, Any]:
    """Launch templates get the region's AMI as their new default version; SSM parameters are
    refused with a clear reason (Kiln has no Parameter Store)."""
    applied: list[dict[str, Any]] = []
    with run.database.transaction() as session:
        amis = registry.of_image(session, run.image_arn)
    for target in targets(run):
        if target.ssm_parameters:
            names = ", ".join(str(p.get("parameterName")) for p in target.ssm_parameters)
            raise BuildError(
                f"ssmParameterConfigurations of {target.region} ({names}) cannot be applied: "
                "Kiln has no SSM Parameter Store. Remove them from the distribution "
                "configuration."
            )
        for configuration in target.launch_templates:
            account = str(configuration.get("accountId") or run.account)
            ami = next(
                (a for a in amis if a.region == target.region and a.account == account), None
            )
            if ami is None:
                raise BuildError(
                    f"launch template {configuration.get('launchTemplateId')} in "
                    f"{target.region}: account {account} received no AMI to set in it"
                )
            applied.append(_launch_template(run, target.region, ami, configuration))
    return {"launchTemplates": applied}


def _may_change_template(
    run: BuildRun, session: Session, region: str, account: str, template: str, default: bool
) -> None:
    """Another account's launch template changes only through its distribution role."""
    principal = cross_account.distributing_principal(
        session, account=run.account, execution_role=run.plan.execution_role
    )
    denial = cross_account.check_launch_template_target(
        session, source=principal, target_account=account,
        template_arn=f"arn:aws:ec2:{region}:{account}:launch-template/{template}",
        set_default=default,
    )  # fmt: skip
    if denial is not None:
        raise BuildError(denial.message)


def _launch_template(
    run: BuildRun, region: str, ami: Ami, configuration: Mapping[str, Any]
) -> dict[str, Any]:
    template = str(configuration.get("launchTemplateId"))
    set_default = configuration.get("setDefaultVersion") is not False
    try:
        with run.database.transaction() as session:
            if ami.account != run.account:
                _may_change_template(run, session, region, ami.account, template, set_default)
            version = apply_launch_template_configuration(
                session,
                account=ami.account,
                region=region,
                launch_template_id=template,
                ami_id=ami.ami_id,
                # Image Builder treats an unset setDefaultVersion as true.
                set_default=set_default,
                now=utcnow(),
            )
    except ClientError as exc:
        raise BuildError(f"launch template {template} in {region}: {exc}") from exc
    return {
        "region": region,
        "accountId": ami.account,
        "launchTemplateId": template,
        "versionNumber": version,
    }
