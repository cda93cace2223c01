"""An AMI build whose distribution fails keeps its AMI; RetryImage distributes it again
without rebuilding (FakeBuildHost: no VM, the AMI's disk is written by the test)."""

from __future__ import annotations

import json
from typing import Any

from kiln.amis import registry
from kiln.app import Kiln
from kiln.engine.fakes import FakeBuildHost
from tests.conftest import client_for
from tests.unit.engine.conftest import wait_for
from tests.unit.engine.test_vm_builds import _image_recipe

ROLE = "EC2ImageBuilderDistributionCrossAccountRole"


def test_retry_of_a_failed_distribution_does_not_rebuild(
    ib: Any, make_executor: Any, host: FakeBuildHost, kiln: Kiln
) -> None:
    target = kiln.create_account("target")
    made = _image_recipe(ib, "retried")
    distribution = ib.create_distribution_configuration(
        name="to-target",
        distributions=[
            {
                "region": "us-east-1",
                "amiDistributionConfiguration": {
                    "name": "retried-{{ imagebuilder:buildVersion }}",
                    "targetAccountIds": [target.account],
                },
            }
        ],
    )["distributionConfigurationArn"]
    arn = ib.create_image(
        imageRecipeArn=made["recipe"],
        infrastructureConfigurationArn=made["infra"],
        distributionConfigurationArn=distribution,
    )["imageBuildVersionArn"]
    with make_executor():
        failed = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert failed["state"]["status"] == "FAILED"
    assert f"arn:aws:iam::{target.account}:role/{ROLE}" in failed["state"]["reason"]
    ((_, built, _),) = host.commits
    (own,) = failed["outputResources"]["amis"]
    assert own["image"] == built and own["name"] == "retried-1"
    with kiln.database.transaction() as session:
        ami = registry.get(session, built)
        assert ami is not None  # the failed distribution did not sweep the build's AMI
        disk = kiln.data_dir / "amis" / ami.disk
    disk.parent.mkdir(parents=True, exist_ok=True)
    disk.write_bytes(b"QFI\xfb built")

    iam = client_for(ib.meta.endpoint_url, target, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": arn.split(":")[4]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(
        RoleName=ROLE,
        PolicyArn="arn:aws:iam::aws:policy/Ec2ImageBuilderCrossAccountDistributionAccess",
    )
    launched = len(host.instances)
    ib.retry_image(imageBuildVersionArn=arn)
    with make_executor():
        done = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert done["state"]["status"] == "AVAILABLE", done["state"]
    assert len(host.commits) == 1 and len(host.instances) == launched  # not rebuilt
    amis = {a["accountId"]: a for a in done["outputResources"]["amis"]}
    assert set(amis) == {arn.split(":")[4], target.account}
    assert amis[arn.split(":")[4]]["image"] == built
    copy = amis[target.account]
    assert copy["image"] != built and copy["name"] == "retried-1"
    with kiln.database.transaction() as session:
        row = registry.get(session, copy["image"])
        assert row is not None and row.account == target.account and row.source_ami == built
    types = [
        e["type"]
        for e in ib.list_workflow_executions(imageBuildVersionArn=arn)["workflowExecutions"]
    ]
    assert sorted(types) == ["BUILD", "DISTRIBUTION", "TEST"]
