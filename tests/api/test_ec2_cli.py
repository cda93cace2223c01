"""EC2's image calls through the unmodified AWS CLI against a live Kiln (AMIs registered
through kiln.amis.registry with qemu-img disks, as in test_ec2_images)."""

from __future__ import annotations

import json
import os

import pytest

from tests.api.test_aws_cli import AWS, aws
from tests.api.test_ec2_images import disk_path, register_ami


@pytest.fixture(autouse=True)
def _aws_cli() -> None:
    if AWS is None:
        reason = "the AWS CLI is not installed (pyproject's dev dependencies)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def run(endpoint, admin, *args: str) -> dict:
    done = aws(endpoint, admin, "ec2", *args)
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_describe_images_owners_self_with_the_aws_cli(kiln, endpoint, admin):
    mine = register_ami(kiln, name="cli-web 1.0.0-1", tags={"Team": "web"})
    register_ami(kiln, name="cli-db 1.0.0-1")
    listed = run(endpoint, admin, "describe-images", "--owners", "self")["Images"]
    assert len(listed) == 2
    (web,) = [image for image in listed if image["ImageId"] == mine]
    assert web["Name"] == "cli-web 1.0.0-1" and web["OwnerId"] == kiln.default_account
    assert web["State"] == "available" and web["Tags"] == [{"Key": "Team", "Value": "web"}]

    filtered = run(
        endpoint, admin, "describe-images", "--owners", "self",
        "--filters", "Name=name,Values=cli-web*",
        "--query", "Images[].ImageId",
    )  # fmt: skip
    assert filtered == [mine]
    # the CLI pages by itself with --page-size
    paged = run(endpoint, admin, "describe-images", "--owners", "self", "--page-size", "5")
    assert len(paged["Images"]) == 2

    missing = aws(
        endpoint, admin, "ec2", "describe-images", "--image-ids", "ami-0123456789abcdef9",
        check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "InvalidAMIID.NotFound" in missing.stderr


def test_share_copy_tag_and_deregister_with_the_aws_cli(kiln, endpoint, admin):
    ami = register_ami(kiln, name="cli-golden")
    other = kiln.create_account("cli-other")
    run(
        endpoint, admin, "modify-image-attribute", "--image-id", ami,
        "--launch-permission", f"Add=[{{UserId={other.account}}}]",
    )  # fmt: skip
    shared = run(endpoint, other, "describe-images", "--executable-users", "self")["Images"]
    assert [image["ImageId"] for image in shared] == [ami]
    permissions = run(
        endpoint, admin, "describe-image-attribute", "--image-id", ami,
        "--attribute", "launchPermission",
    )["LaunchPermissions"]  # fmt: skip
    assert permissions == [{"UserId": other.account}]

    run(endpoint, admin, "create-tags", "--resources", ami, "--tags", "Key=Stage,Value=gold")
    copied = run(
        endpoint, admin, "copy-image", "--region", "eu-west-1", "--source-region", "us-east-1",
        "--source-image-id", ami, "--name", "cli-golden-west", "--copy-image-tags",
    )["ImageId"]  # fmt: skip
    west = run(endpoint, admin, "describe-images", "--region", "eu-west-1", "--image-ids", copied)[
        "Images"
    ][0]
    assert west["SourceImageId"] == ami and west["Tags"] == [{"Key": "Stage", "Value": "gold"}]

    assert run(endpoint, admin, "deregister-image", "--image-id", ami) in ({}, {"Return": True})
    assert not disk_path(kiln, "us-east-1", ami).exists()
    assert disk_path(kiln, "eu-west-1", copied).is_file()
    assert run(endpoint, admin, "describe-images", "--owners", "self")["Images"] == []
