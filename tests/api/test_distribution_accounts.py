"""Distribution across regions and accounts (issue #8's acceptance), through the real API, the
real engine (a ThreadExecutor; a distribution launches nothing) and the AWS CLI.

Three accounts (source S, targets A and B) and three regions: S distributes its AMI from
us-east-1 to eu-west-1 and us-west-2, for itself and for A and B. A has the cross-account role;
B first has none, then one that trusts A instead of S, then the right one (RetryImage each
time, never rebuilding). The launch permission names B: B may describe S's copies, A may not.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiln.amis import registry
from kiln.app import Kiln
from kiln.cli.serving import background_server
from kiln.core.clock import utcnow
from kiln.core.ids import ami_id
from kiln.engine.context import EngineConfig
from kiln.engine.fakes import FakeBuildHost
from kiln.executors.threads import ThreadExecutor
from kiln.settings import Settings
from tests.conftest import IMAGEBUILDER_TRUST, client_for

SOURCE_REGION = "us-east-1"
TARGET_REGIONS = ("eu-west-1", "us-west-2")
REGIONS = (SOURCE_REGION, *TARGET_REGIONS)
ROLE = "EC2ImageBuilderDistributionCrossAccountRole"
CROSS_ACCOUNT_POLICY = "arn:aws:iam::aws:policy/Ec2ImageBuilderCrossAccountDistributionAccess"
AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


@dataclass
class World:
    kiln: Kiln
    url: str
    source: Any
    a: Any
    b: Any

    def client(self, who: Any, service: str = "imagebuilder", region: str = SOURCE_REGION):
        return client_for(self.url, who, service, region=region)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = Settings.load(environ={}, data_dir=tmp_path / "kiln", regions=",".join(REGIONS))
    kiln = Kiln(settings)
    source = kiln.admin_credentials()
    a = kiln.create_account("target-a")
    b = kiln.create_account("target-b")
    executor = ThreadExecutor(
        kiln.database, FakeBuildHost(), EngineConfig(kiln.data_dir, poll_interval=0.05),
        workers=1, lease=dt.timedelta(seconds=5), idle_wait=0.05,
    ).start()  # fmt: skip
    try:
        with background_server(kiln) as url:
            yield World(kiln, url, source, a, b)
    finally:
        executor.stop(timeout=10)
        kiln.close()


def _trust(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def _cross_account_role(world: World, owner: Any, *, trusts: str) -> None:
    iam = world.client(owner, "iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=_trust(trusts))
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=CROSS_ACCOUNT_POLICY)


def _source_ami(world: World) -> str:
    """An AMI of S in us-east-1: a disk in the image store and its registration."""
    ami = ami_id()
    disk = world.kiln.data_dir / "amis" / SOURCE_REGION / f"{ami}.qcow2"
    disk.parent.mkdir(parents=True, exist_ok=True)
    disk.write_bytes(b"QFI\xfb" + os.urandom(4096))
    with world.kiln.database.transaction() as session:
        registry.register(
            session, ami_id=ami, account=world.source.account, region=SOURCE_REGION,
            name="golden base", disk=f"{SOURCE_REGION}/{ami}.qcow2", now=utcnow(),
            size=disk.stat().st_size, description="the golden image",
        )  # fmt: skip
    return ami


def _distribution(world: World, ib: Any) -> str:
    distributions = [
        {
            "region": region,
            "amiDistributionConfiguration": {
                "name": "golden-{{ imagebuilder:buildVersion }} {{ imagebuilder:buildDate }}",
                "description": f"golden in {region}",
                "amiTags": {"team": "platform"},
                "kmsKeyId": f"arn:aws:kms:{region}:{world.source.account}:key/golden",
                "targetAccountIds": [world.a.account, world.b.account],
                "launchPermission": {"userIds": [world.b.account]},
            },
        }
        for region in TARGET_REGIONS
    ]
    return ib.create_distribution_configuration(name="golden", distributions=distributions)[
        "distributionConfigurationArn"
    ]


def _execution_role(world: World) -> str:
    iam = world.client(world.source, "iam")
    arn = iam.create_role(
        RoleName="distributor", AssumeRolePolicyDocument=json.dumps(IMAGEBUILDER_TRUST)
    )["Role"]["Arn"]
    assume = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::*:role/{ROLE}",
            }
        ],
    }
    iam.put_role_policy(
        RoleName="distributor", PolicyName="distribute", PolicyDocument=json.dumps(assume)
    )
    return str(arn)


def _wait(ib: Any, arn: str, statuses: set[str], timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    image: dict[str, Any] = {}
    while time.monotonic() < deadline:
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] in statuses:
            return image
        time.sleep(0.1)
    raise AssertionError(f"{arn} stayed {image.get('state')}; wanted {statuses}")


def _by_owner(image: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(a["region"], a["accountId"]): a["image"] for a in image["outputResources"]["amis"]}


def _aws(world: World, who: Any, region: str, *args: str) -> dict[str, Any]:
    assert AWS is not None
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": who.access_key_id,
        "AWS_SECRET_ACCESS_KEY": who.secret_access_key,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
    }
    done = subprocess.run(
        [AWS, *args, "--endpoint-url", world.url, "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout or "{}"))


def _described(world: World, who: Any, region: str, *args: str) -> set[tuple[str, str]]:
    found = _aws(world, who, region, "ec2", "describe-images", *args)
    return {(image["ImageId"], image["OwnerId"]) for image in found["Images"]}


def _images(world: World, who: Any, region: str, **params: Any) -> set[tuple[str, str]]:
    found = world.client(who, "ec2", region=region).describe_images(**params)
    return {(image["ImageId"], image["OwnerId"]) for image in found["Images"]}


def test_a_region_kiln_does_not_know_is_refused(world: World) -> None:
    ib = world.client(world.source)
    with pytest.raises(ib.exceptions.InvalidParameterValueException) as raised:
        ib.create_distribution_configuration(
            name="far", distributions=[{"region": "ap-south-1", "amiDistributionConfiguration": {}}]
        )
    assert "ap-south-1" in str(raised.value) and "eu-west-1" in str(raised.value)
    far = world.client(world.source, region="ap-south-1")
    with pytest.raises(far.exceptions.ClientError) as refused:
        far.list_images()
    assert "ap-south-1" in str(refused.value)


@pytest.mark.skipif(AWS is None and not os.environ.get("CI"), reason="the AWS CLI is not installed")
def test_distribution_to_regions_and_accounts(world: World) -> None:
    ib = world.client(world.source)
    source_ami = _source_ami(world)
    _cross_account_role(world, world.a, trusts=world.source.account)
    arn = ib.distribute_image(
        sourceImage=source_ami,
        distributionConfigurationArn=_distribution(world, ib),
        executionRole=_execution_role(world),
        tags={"purpose": "acceptance"},
    )["imageBuildVersionArn"]

    # B has no role: its distributions fail, naming B and the role; the others complete.
    failed = _wait(ib, arn, {"FAILED", "AVAILABLE"})
    assert failed["state"]["status"] == "FAILED"
    reason = failed["state"]["reason"]
    assert f"arn:aws:iam::{world.b.account}:role/{ROLE}" in reason
    assert f"account {world.b.account}" in reason and "does not exist" in reason
    assert world.a.account not in reason
    first = _by_owner(failed)
    assert set(first) == {
        (region, account)
        for region in TARGET_REGIONS
        for account in (world.source.account, world.a.account)
    }

    # B's role trusts A, not S: the retry (no rebuild) fails saying so.
    _cross_account_role(world, world.b, trusts=world.a.account)
    ib.retry_image(imageBuildVersionArn=arn)
    failed = _wait(ib, arn, {"FAILED", "AVAILABLE"})
    assert failed["state"]["status"] == "FAILED"
    assert f"does not trust account {world.source.account}" in failed["state"]["reason"]
    assert ROLE in failed["state"]["reason"] and world.b.account in failed["state"]["reason"]

    # B trusts S: the retry completes, keeping the copies already made.
    world.client(world.b, "iam").update_assume_role_policy(
        RoleName=ROLE, PolicyDocument=_trust(world.source.account)
    )
    ib.retry_image(imageBuildVersionArn=arn)
    done = _wait(ib, arn, {"FAILED", "AVAILABLE"})
    assert done["state"]["status"] == "AVAILABLE", done["state"]
    amis = _by_owner(done)
    assert len(amis) == 6 and len(set(amis.values())) == 6
    assert {k: v for k, v in amis.items() if k in first} == first
    assert source_ami not in amis.values()

    with world.kiln.database.transaction() as session:
        rows = {ami: registry.get(session, ami) for ami in amis.values()}
    for (region, account), ami in amis.items():
        row = rows[ami]
        assert row is not None and (row.region, row.account) == (region, account)
        assert row.name == f"golden-1 {row.name.split(' ', 1)[1]}"
        assert row.tags["team"] == "platform" and row.tags["Ec2ImageBuilderArn"] == arn
        assert row.kms_key_id == f"arn:aws:kms:{region}:{world.source.account}:key/golden"
        assert row.source_ami is not None
        own = account == world.source.account
        assert row.launch_permissions == ((({"UserId": world.b.account},)) if own else ())

    # The AWS CLI shows each account its copies in each region.
    s, a, b = world.source, world.a, world.b
    for region in TARGET_REGIONS:
        for who in (s, a, b):
            owned = _described(world, who, region, "--owners", "self")
            assert owned == {(amis[(region, who.account)], who.account)}
    # The launch permission lets B, and nobody else, see S's copies.
    region = TARGET_REGIONS[0]
    assert _described(world, b, region, "--executable-users", "self") == {
        (amis[(region, s.account)], s.account)
    }
    for region in TARGET_REGIONS:
        mine = amis[(region, s.account)]
        assert _images(world, b, region, ExecutableUsers=["self"]) == {(mine, s.account)}
        assert _images(world, a, region, ExecutableUsers=["self"]) == set()
        assert _images(world, a, region) == {(amis[(region, a.account)], a.account)}
        assert _images(world, b, region) == {
            (amis[(region, b.account)], b.account),
            (mine, s.account),
        }
    assert _images(world, s, SOURCE_REGION, Owners=["self"]) == {(source_ami, s.account)}
    assert _images(world, a, SOURCE_REGION) == set()

    # DeleteImage removes the image resource, not the AMIs it distributed.
    ib.delete_image(imageBuildVersionArn=arn)
    with pytest.raises(ib.exceptions.ResourceNotFoundException):
        ib.get_image(imageBuildVersionArn=arn)
    for region in TARGET_REGIONS:
        assert _images(world, a, region, Owners=["self"]) == {
            (amis[(region, a.account)], a.account)
        }
        tagged = _images(
            world, s, region, Filters=[{"Name": "tag:Ec2ImageBuilderArn", "Values": [arn]}]
        )
        assert tagged == {(amis[(region, s.account)], s.account)}
    with world.kiln.database.transaction() as session:
        assert {ami.ami_id for ami in registry.of_image(session, arn)} == set(amis.values())
        for ami in amis.values():
            assert world.kiln.data_dir.joinpath("amis", registry.get(session, ami).disk).is_file()


def test_distribute_image_refuses_what_it_cannot_distribute(world: World) -> None:
    ib = world.client(world.source)
    configuration = _distribution(world, ib)
    role = _execution_role(world)
    with pytest.raises(ib.exceptions.InvalidParameterValueException) as raised:
        ib.distribute_image(
            sourceImage="ssm:/golden/latest", distributionConfigurationArn=configuration,
            executionRole=role,
        )  # fmt: skip
    assert "SSM" in str(raised.value)
    with pytest.raises(ib.exceptions.ResourceNotFoundException):
        ib.distribute_image(
            sourceImage="ami-0123456789abcdef0", distributionConfigurationArn=configuration,
            executionRole=role,
        )  # fmt: skip
    with pytest.raises(ib.exceptions.ResourceNotFoundException):
        ib.distribute_image(
            sourceImage=f"arn:aws:imagebuilder:us-east-1:{world.source.account}:image/none/1.0.0/1",
            distributionConfigurationArn=configuration, executionRole=role,
        )  # fmt: skip
    foreign = _source_ami(world)  # S's AMI, without a launch permission for A
    a_ib = world.client(world.a)
    a_role = world.client(world.a, "iam").create_role(
        RoleName="distributor", AssumeRolePolicyDocument=json.dumps(IMAGEBUILDER_TRUST)
    )["Role"]["Arn"]
    a_configuration = a_ib.create_distribution_configuration(
        name="mine", distributions=[{"region": "eu-west-1", "amiDistributionConfiguration": {}}]
    )["distributionConfigurationArn"]
    with pytest.raises(a_ib.exceptions.ResourceNotFoundException):
        a_ib.distribute_image(
            sourceImage=foreign, distributionConfigurationArn=a_configuration,
            executionRole=a_role,
        )  # fmt: skip


def test_a_target_accounts_launch_template_changes_only_through_its_role(world: World) -> None:
    s, a = world.source, world.a
    ib = world.client(s)
    _cross_account_role(world, a, trusts=s.account)  # the managed policy: no launch templates
    a_ec2 = world.client(a, "ec2", region="eu-west-1")
    template = a_ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"InstanceType": "t3.small"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    configuration = ib.create_distribution_configuration(
        name="web",
        distributions=[
            {
                "region": "eu-west-1",
                "amiDistributionConfiguration": {"targetAccountIds": [a.account]},
                "launchTemplateConfigurations": [
                    {"launchTemplateId": template, "accountId": a.account}
                ],
            }
        ],
    )["distributionConfigurationArn"]
    arn = ib.distribute_image(
        sourceImage=_source_ami(world),
        distributionConfigurationArn=configuration,
        executionRole=_execution_role(world),
    )["imageBuildVersionArn"]

    failed = _wait(ib, arn, {"FAILED", "AVAILABLE"})
    assert failed["state"]["status"] == "FAILED"
    reason = failed["state"]["reason"]
    assert f"arn:aws:iam::{a.account}:role/{ROLE}" in reason
    assert "ec2:CreateLaunchTemplateVersion, ec2:ModifyLaunchTemplate" in reason
    assert f"launch-template/{template}" in reason
    [untouched] = a_ec2.describe_launch_templates(LaunchTemplateIds=[template])["LaunchTemplates"]
    assert (untouched["DefaultVersionNumber"], untouched["LatestVersionNumber"]) == (1, 1)

    allow = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
                "Resource": f"arn:aws:ec2:*:{a.account}:launch-template/*",
            }
        ],
    }
    world.client(a, "iam").put_role_policy(
        RoleName=ROLE, PolicyName="launch-templates", PolicyDocument=json.dumps(allow)
    )
    ib.retry_image(imageBuildVersionArn=arn)
    done = _wait(ib, arn, {"FAILED", "AVAILABLE"})
    assert done["state"]["status"] == "AVAILABLE", done["state"]
    copy = _by_owner(done)[("eu-west-1", a.account)]
    [changed] = a_ec2.describe_launch_templates(LaunchTemplateIds=[template])["LaunchTemplates"]
    assert (changed["DefaultVersionNumber"], changed["LatestVersionNumber"]) == (2, 2)
    [default] = a_ec2.describe_launch_template_versions(
        LaunchTemplateId=template, Versions=["$Default"]
    )["LaunchTemplateVersions"]
    assert default["LaunchTemplateData"]["ImageId"] == copy
    assert default["LaunchTemplateData"]["InstanceType"] == "t3.small"
