"""What a lifecycle action does to an image's AMIs, in every region and account.

The AMIs are those the registry holds for the image ARN (the build's AMI and every distributed
copy, kiln.amis.registry.of_image), whether or not the image resource still exists. Each AMI
acted on is recorded as a lifecycle execution resource: resourceId the AMI id, its region, the
account that owns it, parent the image ARN. The EC2 change per action:

| action     | EC2 operation                                   | registry                     |
|------------|-------------------------------------------------|------------------------------|
| DEPRECATE  | EnableImageDeprecation at the execution's time  | `set_deprecation(now)`       |
| DISABLE    | DisableImage (disabled, private)                | `disable`                    |
| AVAILABLE  | EnableImage / DisableImageDeprecation as needed | `enable`, `set_deprecation(None)` |
| DELETE     | DeregisterImage                                 | `deregister`                 |

Who may: an AMI of the image's account is changed as the execution role (the policy's, or
StartResourceStateUpdate's), whose policies must allow the EC2 action on the AMI with its tags
(EC2ImageBuilderLifecycleExecutionPolicy allows it for AMIs tagged `CreatedBy: EC2 Image
Builder`); a StartResourceStateUpdate without an execution role acts as the service on the
caller's own AMIs (the caller was authorised for the update). An AMI another account owns is
changed through that account's `Ec2ImageBuilderCrossAccountLifecycleAccess` role
(kiln.engine.cross_account). A refusal fails that AMI's record, naming the account, the role
and what is missing; the other AMIs proceed.

Snapshots: a Kiln AMI has no snapshots apart from its disk file, and Kiln's EC2 has no
snapshot API through which a kept disk could be used or deleted later. So DELETE removes the
disk once the transaction commits and no other AMI uses it, with or without `snapshots`, as
Kiln's DeregisterImage does; `snapshots` is recorded with the policy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kiln.amis import registry
from kiln.amis.registry import DISABLED, Ami
from kiln.amis.stores import ImageStores, remove_after_commit
from kiln.engine.cross_account import (
    LIFECYCLE_POLICY,
    check_lifecycle_target,
    role_allows,
)
from kiln.store import iam as iam_store
from kiln.store.lifecycle_schema import LifecycleExecutionRow, LifecycleResourceRow
from kiln.store.schema import IamEntityRow

SUCCESS = "SUCCESS"
FAILED = "FAILED"
SKIPPED = "SKIPPED"
AMI = "ami"


@dataclass(frozen=True)
class Actor:
    """Who acts on an image's AMIs: Image Builder for `account`, as the execution role
    `role_name` (None: the service itself; `role` None: that role no longer exists), removing
    disk files through `images` (None: disks are left in place)."""

    account: str
    role_name: str | None
    role: IamEntityRow | None
    images: ImageStores | None = None


def actor(session: Session, account: str, role: str | None, images: ImageStores | None) -> Actor:
    """The execution role given by name or ARN (or none)."""
    if not role:
        return Actor(account=account, role_name=None, role=None, images=images)
    name = role.rsplit("/", 1)[-1]
    row = iam_store.entity(session, account=account, kind=iam_store.ROLE, name=name)
    return Actor(account=account, role_name=role, role=row, images=images)


def act_on_amis(
    session: Session,
    execution: LifecycleExecutionRow,
    *,
    image_arn: str,
    action: str,
    include: Mapping[str, bool],
    reason: str | None,
    who: Actor,
    now: dt.datetime,
) -> list[LifecycleResourceRow]:
    """Apply `action` to every AMI of the image (when the action includes AMIs)."""
    if not include.get("amis"):
        return []
    records = []
    for ami in registry.of_image(session, image_arn):
        record = start_record(
            session, execution, account=ami.account, region=ami.region, resource_id=ami.ami_id,
            parent_id=image_arn, kind=AMI, action=action, reason=reason, now=now,
        )  # fmt: skip
        operations = _operations(ami, action, now)
        if not operations:
            record.status, record.reason = SKIPPED, f"The AMI is already {ami.state}."
        else:
            refused = _refusal(session, who, ami, image_arn, operations)
            if refused:
                record.status, record.reason = FAILED, refused[:1024]
            else:
                _apply(session, who, ami, action, include, now)
                record.status = SUCCESS
        record.end_time = now
        records.append(record)
    session.flush()
    return records


def _operations(ami: Ami, action: str, now: dt.datetime) -> list[str]:
    if action == "DEPRECATE":
        return [] if ami.deprecated(now) else ["ec2:EnableImageDeprecation"]
    if action == "DISABLE":
        return [] if ami.state == DISABLED else ["ec2:DisableImage"]
    if action == "DELETE":
        return ["ec2:DeregisterImage"]
    needed = ["ec2:EnableImage"] if ami.state == DISABLED else []
    return needed + (["ec2:DisableImageDeprecation"] if ami.deprecation_time else [])


def _refusal(
    session: Session, who: Actor, ami: Ami, image_arn: str, operations: list[str]
) -> str | None:
    resource = f"arn:aws:ec2:{ami.region}::image/{ami.ami_id}"
    for operation in operations:
        if ami.account != who.account:
            denial = check_lifecycle_target(
                session,
                source_account=who.account,
                image_arn=image_arn,
                target_account=ami.account,
                action=operation,
                image_resource=resource,
                tags=ami.tags,
            )
            if denial is not None:
                return denial.message
        elif who.role_name and who.role is None:
            return f"The execution role {who.role_name} does not exist in account {who.account}."
        elif who.role is not None and not role_allows(
            session, who.role, action=operation, resource=resource, tags=ami.tags
        ):
            return (
                f"The execution role {who.role.arn} is not allowed {operation} on {resource} "
                f"(granted by {LIFECYCLE_POLICY} for AMIs tagged CreatedBy: EC2 Image Builder)."
            )
    return None


def _apply(
    session: Session,
    who: Actor,
    ami: Ami,
    action: str,
    include: Mapping[str, bool],
    now: dt.datetime,
) -> None:
    if action == "DEPRECATE":
        registry.set_deprecation(session, ami.ami_id, now)
    elif action == "DISABLE":
        registry.disable(session, ami.ami_id)
    elif action == "AVAILABLE":
        if ami.state == DISABLED:
            registry.enable(session, ami.ami_id)
        registry.set_deprecation(session, ami.ami_id, None)
    else:
        disk = registry.deregister(session, ami.ami_id)
        if disk is not None and who.images is not None:
            remove_after_commit(session, who.images, disk)


def start_record(
    session: Session,
    execution: LifecycleExecutionRow,
    *,
    account: str,
    region: str,
    resource_id: str,
    parent_id: str | None,
    kind: str,
    action: str,
    reason: str | None,
    now: dt.datetime,
) -> LifecycleResourceRow:
    """A lifecycle execution resource, IN_PROGRESS until its outcome is set."""
    record = LifecycleResourceRow(
        execution_id=execution.id,
        account=account,
        region=region,
        resource_id=resource_id,
        parent_id=parent_id,
        kind=kind,
        action=action,
        action_reason=reason,
        status="IN_PROGRESS",
        image_uris=[],
        start_time=now,
    )
    session.add(record)
    session.flush()
    return record
