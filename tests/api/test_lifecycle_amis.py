"""Lifecycle actions on the AMIs an image distributed, in every region and account (issue #8's
acceptance: "Deleting the source image (DeleteImage) leaves distributed copies as AWS does, and
lifecycle deletion later can find them").

S distributes an AMI to us-east-1 and eu-west-1, for itself and for accounts A and B (both
have the distribution role). A has `Ec2ImageBuilderCrossAccountLifecycleAccess`; B has none,
or one without permissions. S's copies are shared with B by a launch permission.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest

from kiln.amis import registry
from kiln.core.clock import utcnow
from kiln.services.imagebuilder import lifecycle_runs
from kiln.store import resources
from tests.api.test_distribution_accounts import (
    AWS,
    SOURCE_REGION,
    World,
    _aws,
    _by_owner,
    _cross_account_role,
    _execution_role,
    _images,
    _source_ami,
    _wait,
    world,
)
from tests.conftest import IMAGEBUILDER_TRUST

__all__ = ["world"]

REGIONS = (SOURCE_REGION, "eu-west-1")
LIFECYCLE_ROLE = "Ec2ImageBuilderCrossAccountLifecycleAccess"
SERVICE = "imagebuilder.amazonaws.com"
LIFECYCLE_POLICY = "arn:aws:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy"


def _lifecycle_trust(source: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": SERVICE},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": source},
                        "ArnLike": {"aws:SourceArn": "arn:*:imagebuilder:*:*:image/*/*/*"},
                    },
                }
            ],
        }
    )


def _lifecycle_role(
    world: World, owner: Any, *, policy: bool = True, trusts: str | None = None
) -> None:
    iam = world.client(owner, "iam")
    iam.create_role(
        RoleName=LIFECYCLE_ROLE,
        AssumeRolePolicyDocument=_lifecycle_trust(trusts or world.source.account),
    )
    if policy:
        iam.attach_role_policy(RoleName=LIFECYCLE_ROLE, PolicyArn=LIFECYCLE_POLICY)


def _execution_lifecycle_role(world: World) -> str:
    iam = world.client(world.source, "iam")
    arn = iam.create_role(
        RoleName="lifecycle", AssumeRolePolicyDocument=json.dumps(IMAGEBUILDER_TRUST)
    )["Role"]["Arn"]
    iam.attach_role_policy(RoleName="lifecycle", PolicyArn=LIFECYCLE_POLICY)
    return str(arn)


def _distributed(world: World) -> tuple[str, dict[tuple[str, str], str]]:
    """S's image distributed to both regions for S, A and B; its AMIs by (region, account)."""
    ib = world.client(world.source)
    for account in (world.a, world.b):
        _cross_account_role(world, account, trusts=world.source.account)
    distributions = [
        {
            "region": region,
            "amiDistributionConfiguration": {
                "name": "golden-{{ imagebuilder:buildDate }}",
                "targetAccountIds": [world.a.account, world.b.account],
                "launchPermission": {"userIds": [world.b.account]},
            },
        }
        for region in REGIONS
    ]
    configuration = ib.create_distribution_configuration(
        name="golden", distributions=distributions
    )["distributionConfigurationArn"]
    arn = ib.distribute_image(
        sourceImage=_source_ami(world),
        distributionConfigurationArn=configuration,
        executionRole=_execution_role(world),
    )["imageBuildVersionArn"]
    image = _wait(ib, arn, {"FAILED", "AVAILABLE"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    amis = _by_owner(image)
    assert len(amis) == 6
    return arn, amis


def _of(image: str) -> list[dict[str, Any]]:
    return [{"Name": "tag:Ec2ImageBuilderArn", "Values": [image]}]


def _ami(world: World, ami_id: str) -> registry.Ami | None:
    with world.kiln.database.transaction() as session:
        return registry.get(session, ami_id)


def _ami_records(world: World, execution_id: str, image: str) -> dict[str, dict[str, Any]]:
    listed = world.client(world.source).list_lifecycle_execution_resources(
        lifecycleExecutionId=execution_id, parentResourceId=image
    )["resources"]
    return {record["resourceId"]: record for record in listed}


def _update(world: World, image: str, state: str, role: str, **include: bool) -> str:
    started = world.client(world.source).start_resource_state_update(
        resourceArn=image, state={"status": state}, executionRole=role,
        includeResources={"amis": True, **include},
    )  # fmt: skip
    return str(started["lifecycleExecutionId"])


@pytest.mark.skipif(AWS is None and not os.environ.get("CI"), reason="the AWS CLI is not installed")
def test_state_updates_reach_every_ami_where_a_role_allows(world: World) -> None:
    s, a, b = world.source, world.a, world.b
    image, amis = _distributed(world)
    _lifecycle_role(world, a)
    role = _execution_lifecycle_role(world)
    mine = {region: amis[(region, s.account)] for region in REGIONS}

    # DEPRECATE: every AMI S and A own gets a deprecation time; B has no role.
    execution = _update(world, image, "DEPRECATED", role)
    records = _ami_records(world, execution, image)
    assert set(records) == set(amis.values())
    for (region, account), ami in amis.items():
        record = records[ami]
        assert (record["region"], record["accountId"]) == (region, account)
        assert record["action"]["name"] == "DEPRECATE"
        if account == b.account:
            assert record["state"]["status"] == "FAILED"
            reason = record["state"]["reason"]
            assert f"arn:aws:iam::{b.account}:role/{LIFECYCLE_ROLE}" in reason
            assert f"account {b.account}" in reason and "does not exist" in reason
        else:
            assert record["state"] == {"status": "SUCCESS"}
    got = world.client(s).get_lifecycle_execution(lifecycleExecutionId=execution)
    assert got["lifecycleExecution"]["state"]["status"] == "FAILED"
    assert "2 of 6 AMIs failed" in got["lifecycleExecution"]["state"]["reason"]
    for region in REGIONS:
        for who in (s, a, b):
            ec2 = world.client(who, "ec2", region=region)
            [own] = ec2.describe_images(Owners=["self"], Filters=_of(image))["Images"]
            assert ("DeprecationTime" in own) == (who is not b), (region, who.account)
    found = _aws(world, a, "eu-west-1", "ec2", "describe-images", "--owners", "self")
    assert [i["ImageId"] for i in found["Images"]] == [amis[("eu-west-1", a.account)]]
    assert found["Images"][0]["DeprecationTime"].endswith("Z")
    # B no longer lists S's deprecated copy, unless it asks for deprecated AMIs or names it.
    assert _images(world, b, "eu-west-1", ExecutableUsers=["self"]) == set()
    shared = {(mine["eu-west-1"], s.account)}
    assert _images(world, b, "eu-west-1", ExecutableUsers=["self"], IncludeDeprecated=True) == (
        shared
    )
    assert _images(world, b, "eu-west-1", ImageIds=[mine["eu-west-1"]]) == shared

    # DISABLE: B's role exists but may do nothing; S's and A's AMIs are disabled and private.
    _lifecycle_role(world, b, policy=False)
    execution = _update(world, image, "DISABLED", role)
    records = _ami_records(world, execution, image)
    for (_region, account), ami in amis.items():
        row = _ami(world, ami)
        assert row is not None
        if account == b.account:
            assert records[ami]["state"]["status"] == "FAILED"
            assert "is not allowed ec2:DisableImage" in records[ami]["state"]["reason"]
            assert row.state == "available"
        else:
            assert records[ami]["state"] == {"status": "SUCCESS"}
            assert row.state == "disabled" and row.launch_permissions == ()
    for region in REGIONS:
        assert _images(world, s, region, Owners=["self"], Filters=_of(image)) == set()
        ec2 = world.client(s, "ec2", region=region)
        [disabled] = ec2.describe_images(Owners=["self"], IncludeDisabled=True, Filters=_of(image))[
            "Images"
        ]
        assert disabled["State"] == "disabled" and disabled["Public"] is False
        assert _images(world, b, region, IncludeDeprecated=True, IncludeDisabled=True) == {
            (amis[(region, b.account)], b.account)
        }
        b_ec2 = world.client(b, "ec2", region=region)
        with pytest.raises(b_ec2.exceptions.ClientError) as hidden:
            b_ec2.describe_images(ImageIds=[mine[region]])
        assert hidden.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"

    # DELETE with snapshots: S's and A's copies are deregistered and their disks removed; B's
    # stay, their records failed; the image resource is gone.
    disks = {ami: _ami(world, ami).disk for ami in amis.values()}  # type: ignore[union-attr]
    execution = _update(world, image, "DELETED", role, snapshots=True)
    records = _ami_records(world, execution, image)
    for (_region, account), ami in amis.items():
        disk = world.kiln.data_dir / "amis" / disks[ami]
        if account == b.account:
            assert records[ami]["state"]["status"] == "FAILED"
            assert LIFECYCLE_ROLE in records[ami]["state"]["reason"]
            assert _ami(world, ami) is not None and disk.is_file()
        else:
            assert records[ami]["state"] == {"status": "SUCCESS"}
            assert _ami(world, ami) is None and not disk.exists()
    ib = world.client(s)
    with pytest.raises(ib.exceptions.ResourceNotFoundException):
        ib.get_image(imageBuildVersionArn=image)
    for region in REGIONS:
        assert _images(world, a, region, Owners=["self"], IncludeDisabled=True) == set()


def test_a_policy_finds_the_amis_a_deleted_image_left(world: World) -> None:
    s, a, b = world.source, world.a, world.b
    image, amis = _distributed(world)
    _lifecycle_role(world, a)
    _lifecycle_role(world, b, trusts=a.account)  # B's role trusts the service for A, not S
    ib = world.client(s)
    name = image.split("/")[-3]

    # DeleteImage removes the image resource; its AMIs stay in every region and account.
    ib.delete_image(imageBuildVersionArn=image)
    for ami in amis.values():
        assert _ami(world, ami) is not None

    policy = ib.create_lifecycle_policy(
        name="golden-cleanup",
        executionRole=_execution_lifecycle_role(world),
        resourceType="AMI_IMAGE",
        policyDetails=[
            {
                "action": {"type": "DELETE", "includeResources": {"amis": True}},
                "filter": {"type": "AGE", "value": 1, "unit": "DAYS"},
            }
        ],
        resourceSelection={"recipes": [{"name": name, "semanticVersion": "1.x.x"}]},
    )["lifecyclePolicyArn"]
    with world.kiln.database.transaction() as session:
        row = resources.by_arn(session, policy)
        too_soon = lifecycle_runs.run_lifecycle_policy(session, row, now=utcnow())
    listed = ib.list_lifecycle_execution_resources(lifecycleExecutionId=too_soon)
    assert listed["resources"] == []

    later = utcnow() + dt.timedelta(days=2)
    with world.kiln.database.transaction() as session:
        row = resources.by_arn(session, policy)
        execution = lifecycle_runs.run_lifecycle_policy(
            session, row, now=later, images=world.kiln.image_stores
        )
    [top] = ib.list_lifecycle_execution_resources(lifecycleExecutionId=execution)["resources"]
    assert top["resourceId"] == image and top["action"]["name"] == "DELETE"
    assert top["state"]["status"] == "SUCCESS" and "older than 1 days" in top["action"]["reason"]
    records = _ami_records(world, execution, image)
    assert set(records) == set(amis.values())
    for (region, account), ami in amis.items():
        assert (records[ami]["region"], records[ami]["accountId"]) == (region, account)
        if account == b.account:
            assert records[ami]["state"]["status"] == "FAILED"
            reason = records[ami]["state"]["reason"]
            assert LIFECYCLE_ROLE in reason and f"account {b.account}" in reason
            assert f"does not trust the service {SERVICE} for source account {s.account}" in reason
            assert _ami(world, ami) is not None
        else:
            assert records[ami]["state"] == {"status": "SUCCESS"}
            assert _ami(world, ami) is None
    # A Kiln AMI's disk is its only snapshot: the deregistered AMIs' disks go with them, the
    # refused ones' stay.
    store = world.kiln.data_dir / "amis"
    assert not (store / "eu-west-1" / f"{amis[('eu-west-1', a.account)]}.qcow2").exists()
    assert (store / "eu-west-1" / f"{amis[('eu-west-1', b.account)]}.qcow2").is_file()

    # What is left (B's copies) is found again by the next run, and still refused.
    with world.kiln.database.transaction() as session:
        row = resources.by_arn(session, policy)
        again = lifecycle_runs.run_lifecycle_policy(session, row, now=later)
    assert set(_ami_records(world, again, image)) == {
        amis[(region, b.account)] for region in REGIONS
    }
