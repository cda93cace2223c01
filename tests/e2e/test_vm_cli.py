"""The acceptance script of issue #7 §5, as a new user runs it with the unmodified AWS CLI:
the prerequisites' instance profile, CreateImageRecipe (Kiln's managed Debian 12 parent and the
managed hello-world-linux component), CreateInfrastructureConfiguration, CreateImage, GetImage
until the image is AVAILABLE (a real QEMU build and test, the default workflows), then
`aws ec2 describe-images --owners self` lists the AMI the build made."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.engine.context import EngineConfig
from kiln.engine.vm_host import QemuBuildHost, RegisteredAmis
from kiln.instances.qemu import list_instances
from tests.api.test_aws_cli import AWS, aws
from tests.e2e.support import serving
from tests.vm.conftest import VM_DIR, qemu_ready, skip_or_fail  # noqa: F401 (fixture)

pytestmark = [pytest.mark.vm, pytest.mark.slow]

REGION = "us-east-1"
PARENT = f"arn:aws:imagebuilder:{REGION}:aws:image/debian-12-x86/x.x.x"
HELLO = f"arn:aws:imagebuilder:{REGION}:aws:component/hello-world-linux/x.x.x"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def server(qemu_ready: None, kiln: Kiln, runtime_dir: Path) -> Iterator[str]:  # noqa: F811
    if AWS is None:
        skip_or_fail("the AWS CLI is not installed (pyproject's dev dependencies)")
    # a generous boot timeout: under TCG on a busy 2-core machine a boot can take many minutes
    host = QemuBuildHost(
        VM_DIR,
        runtime_dir,
        amis=RegisteredAmis(kiln.database),
        stores=kiln.image_stores,
        boot_timeout=1800,
    )
    with serving(kiln, host, EngineConfig(data_dir=kiln.data_dir)) as url:
        yield url


@pytest.mark.timeout(3600)
def test_a_new_user_builds_an_ami_with_the_aws_cli_and_finds_it_in_ec2(
    server: str, admin: Any, runtime_dir: Path, tmp_path: Path
) -> None:
    def cli(*args: str) -> dict[str, Any]:
        done = aws(server, admin, *args)
        return json.loads(done.stdout) if done.stdout.strip() else {}

    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(TRUST))
    cli("iam", "create-role", "--role-name", "ImageBuilderRole",
        "--assume-role-policy-document", f"file://{trust}")  # fmt: skip
    for policy in ("EC2InstanceProfileForImageBuilder", "AmazonSSMManagedInstanceCore"):
        cli("iam", "attach-role-policy", "--role-name", "ImageBuilderRole",
            "--policy-arn", f"arn:aws:iam::aws:policy/{policy}")  # fmt: skip
    cli("iam", "create-instance-profile", "--instance-profile-name", "ImageBuilderRole")
    cli("iam", "add-role-to-instance-profile", "--instance-profile-name", "ImageBuilderRole",
        "--role-name", "ImageBuilderRole")  # fmt: skip

    recipe = cli(
        "imagebuilder", "create-image-recipe", "--name", "hello-ami",
        "--semantic-version", "1.0.0", "--parent-image", PARENT,
        "--components", f"componentArn={HELLO}",
    )["imageRecipeArn"]  # fmt: skip
    infrastructure = cli(
        "imagebuilder", "create-infrastructure-configuration", "--name", "hello-infra",
        "--instance-profile-name", "ImageBuilderRole", "--instance-types", "t3.small",
    )["infrastructureConfigurationArn"]  # fmt: skip
    started = time.monotonic()
    arn = cli(
        "imagebuilder", "create-image", "--image-recipe-arn", recipe,
        "--infrastructure-configuration-arn", infrastructure,
    )["imageBuildVersionArn"]  # fmt: skip

    image: dict[str, Any] = {}
    while time.monotonic() - started < 3400:
        image = cli("imagebuilder", "get-image", "--image-build-version-arn", arn)["image"]
        if image["state"]["status"] in ("AVAILABLE", "FAILED", "CANCELLED"):
            break
        time.sleep(10)
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    (output,) = image["outputResources"]["amis"]
    print(f"AMI {output['image']} AVAILABLE in {time.monotonic() - started:.0f}s")

    owned = cli("ec2", "describe-images", "--owners", "self")["Images"]
    (listed,) = [ami for ami in owned if ami["ImageId"] == output["image"]]
    assert listed["Name"] == output["name"] and listed["State"] == "available"
    assert listed["OwnerId"] == arn.split(":")[4]
    assert listed["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] >= 1
    assert not list_instances(runtime_dir)
