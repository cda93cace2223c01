"""The prerequisites, checked when a build starts: the instance profile's role must hold what
the managed policies grant, and `logging.s3Logs` needs s3:PutObject on each log object."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kiln.app import Kiln
from kiln.engine.context import EngineConfig
from kiln.engine.fakes import FakeBuildHost
from kiln.executors.threads import ThreadExecutor
from tests.conftest import sibling_client
from tests.unit.engine.conftest import container_recipe, wait_for


def _executor(kiln: Kiln, host: FakeBuildHost) -> ThreadExecutor:
    config = EngineConfig(data_dir=kiln.data_dir, poll_interval=0.05, objects=kiln.objects)
    return ThreadExecutor(
        kiln.database, host, config, workers=1, lease=dt.timedelta(seconds=5), idle_wait=0.05
    )


def _infra(ib: Any, name: str, profile: str, **extra: Any) -> str:
    return ib.create_infrastructure_configuration(name=name, instanceProfileName=profile, **extra)[
        "infrastructureConfigurationArn"
    ]


def _profile(ib: Any, name: str, policies: list[str], inline: dict[str, Any] | None = None):
    iam = sibling_client(ib, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ec2.amazonaws.com"},
            }
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    for policy in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    if inline:
        iam.put_role_policy(RoleName=name, PolicyName="extra", PolicyDocument=json.dumps(inline))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


def test_a_role_without_the_managed_policies_fails_before_launch(ib: Any, kiln: Kiln) -> None:
    made = container_recipe(ib, name="bare")
    _profile(ib, "bare-role", ["AmazonSSMManagedInstanceCore"])
    infra = _infra(ib, "bare-role-infra", "bare-role")
    host = FakeBuildHost()
    arn = ib.create_image(containerRecipeArn=made["recipe"], infrastructureConfigurationArn=infra)[
        "imageBuildVersionArn"
    ]
    with _executor(kiln, host).start():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    reason = image["state"]["reason"]
    assert image["state"]["status"] == "FAILED"
    assert "imagebuilder:GetComponent" in reason
    assert "EC2InstanceProfileForImageBuilderECRContainerBuilds" in reason
    assert "bare-role" in reason
    assert host.instances == {}  # nothing was launched


def test_logs_go_to_the_bucket_only_with_put_object(ib: Any, kiln: Kiln) -> None:
    made = container_recipe(ib, name="logged")
    policies = [
        "EC2InstanceProfileForImageBuilderECRContainerBuilds",
        "AmazonSSMManagedInstanceCore",
    ]
    _profile(ib, "quiet-role", policies)
    allowed = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::build-logs/*"}
        ],
    }
    _profile(ib, "logging-role", policies, inline=allowed)
    logging = {"s3Logs": {"s3BucketName": "build-logs", "s3KeyPrefix": "kiln"}}
    denied_infra = _infra(ib, "denied-infra", "quiet-role", logging=logging)
    allowed_infra = _infra(ib, "allowed-infra", "logging-role", logging=logging)
    host = FakeBuildHost()
    with _executor(kiln, host).start():
        denied = ib.create_image(
            containerRecipeArn=made["recipe"], infrastructureConfigurationArn=denied_infra
        )["imageBuildVersionArn"]
        denied_image = wait_for(ib, denied, {"AVAILABLE", "FAILED"})
        ok = ib.create_image(
            containerRecipeArn=made["recipe"], infrastructureConfigurationArn=allowed_infra
        )["imageBuildVersionArn"]
        ok_image = wait_for(ib, ok, {"AVAILABLE", "FAILED"})
    reason = denied_image["state"]["reason"]
    assert denied_image["state"]["status"] == "FAILED"
    assert "AccessDenied" in reason and "s3:PutObject" in reason
    assert "arn:aws:s3:::build-logs/kiln/logged/1.0.0/" in reason
    assert ok_image["state"]["status"] == "AVAILABLE", ok_image["state"]
    keys = kiln.objects.for_bucket("build-logs").list_objects("build-logs", "kiln/logged/1.0.0/")
    assert any(key.endswith("detailedoutput.json") for key in keys), keys
    assert any(key.endswith("console.log") for key in keys), keys
