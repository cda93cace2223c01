"""EC2's image calls with unmodified boto3: AMIs registered through kiln.amis.registry (each
with a small qcow2 disk made by qemu-img in the test's data dir), described, filtered, paged,
shared between two accounts, copied between regions, tagged, deregistered; IAM on images."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kiln import process
from kiln.amis import registry
from kiln.amis.stores import ImageStores
from kiln.app import Kiln
from kiln.cli.serving import background_server
from kiln.core.clock import utcnow
from kiln.core.ids import ami_id as new_ami_id
from kiln.settings import Settings
from kiln.store.engine_schema import WorkItemRow
from tests.api.disk_files import require_qemu_img
from tests.api.factories import add_image
from tests.conftest import client_for, make_instance_profile

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
MANAGED = "arn:aws:iam::aws:policy/"


@pytest.fixture(scope="module", autouse=True)
def _qemu_img() -> None:
    require_qemu_img()


def make_disk(kiln: Kiln, region: str, ami: str, size: str = "1G") -> str:
    store = ImageStores.under(kiln.data_dir)
    disk = store.relative(region, ami)
    path = store.path(disk)
    path.parent.mkdir(parents=True, exist_ok=True)
    process.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], timeout=60)
    return disk


def register_ami(
    kiln: Kiln,
    *,
    account: str | None = None,
    region: str = REGION,
    name: str | None = None,
    ami: str | None = None,
    disk: str | None = None,
    size: str = "1G",
    **extra: Any,
) -> str:
    """An AMI row (and its disk, unless one is given), as the build engine registers one."""
    ami = ami or new_ami_id()
    with kiln.database.transaction() as session:
        registry.register(
            session,
            ami_id=ami,
            account=account or kiln.default_account,
            region=region,
            name=name or f"image {ami}",
            disk=disk or make_disk(kiln, region, ami, size),
            now=utcnow(),
            **extra,
        )
    return ami


def disk_path(kiln: Kiln, region: str, ami: str):
    store = ImageStores.under(kiln.data_dir)
    return store.path(store.relative(region, ami))


def error_of(call, *args, **kwargs) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


@pytest.fixture
def ec2(endpoint, admin):
    return client_for(endpoint, admin, "ec2")


@pytest.fixture
def other(kiln: Kiln, endpoint):
    """A second account: (its id, its EC2 client in us-east-1, a client maker)."""
    made = kiln.create_account("other")
    return made.account, client_for(endpoint, made, "ec2"), made


def _ids(images) -> list[str]:
    return [image["ImageId"] for image in images]


# -- DescribeImages ----------------------------------------------------------------------------


def test_describe_images_shapes_an_ami(kiln, ec2):
    ami = register_ami(kiln, name="web 1.0.0-1", description="built by kiln", size="3G")
    (image,) = ec2.describe_images(Owners=["self"])["Images"]
    assert image["ImageId"] == ami and image["Name"] == "web 1.0.0-1"
    assert image["OwnerId"] == kiln.default_account and image["State"] == "available"
    assert image["Description"] == "built by kiln" and image["Public"] is False
    assert image["ImageLocation"] == f"{kiln.default_account}/web 1.0.0-1"
    assert (image["Architecture"], image["ImageType"]) == ("x86_64", "machine")
    assert (image["RootDeviceType"], image["RootDeviceName"]) == ("ebs", "/dev/xvda")
    assert (image["VirtualizationType"], image["Hypervisor"]) == ("hvm", "xen")
    assert image["PlatformDetails"] == "Linux/UNIX" and image["UsageOperation"] == "RunInstances"
    assert image["BootMode"] == "legacy-bios"
    ((mapping),) = image["BlockDeviceMappings"]
    assert mapping["DeviceName"] == "/dev/xvda"
    assert mapping["Ebs"]["VolumeSize"] == 3 and mapping["Ebs"]["Encrypted"] is False
    assert image["CreationDate"].endswith("Z") and "T" in image["CreationDate"]
    assert "SourceImageId" not in image and "Tags" not in image
    by_id = ec2.describe_images(ImageIds=[ami])["Images"]
    assert _ids(by_id) == [ami]
    assert ec2.describe_images(Owners=["amazon"])["Images"] == []
    assert _ids(ec2.describe_images(Owners=[kiln.default_account])["Images"]) == [ami]
    # other regions have their own AMIs
    west = client_for(ec2.meta.endpoint_url, kiln.admin_credentials(), "ec2", region=OTHER_REGION)
    assert west.describe_images(Owners=["self"])["Images"] == []


def test_filters_select_images(kiln, ec2):
    web1 = register_ami(kiln, name="web-1", tags={"Team": "web", "Env": "prod"})
    web2 = register_ami(kiln, name="web-2", description="second", tags={"Team": "web"})
    db = register_ami(kiln, name="db-10", state="pending")

    def names(*filters) -> list[str]:
        found = ec2.describe_images(Filters=[{"Name": n, "Values": v} for n, v in filters])
        return sorted(image["Name"] for image in found["Images"])

    assert names(("name", ["web-*"])) == ["web-1", "web-2"]
    assert names(("name", ["web-?"])) == ["web-1", "web-2"]
    assert names(("name", ["db-?"])) == []
    assert names(("name", ["db-??", "web-1"])) == ["db-10", "web-1"]
    assert names(("tag:Team", ["web"]), ("tag:Env", ["prod"])) == ["web-1"]
    assert names(("tag-key", ["Env"])) == ["web-1"]
    assert names(("state", ["pending"])) == ["db-10"]
    assert names(("is-public", ["false"]), ("image-id", [web2])) == ["web-2"]
    assert names(("is-public", ["true"])) == []
    assert names(("owner-id", [kiln.default_account]), ("description", ["sec*"])) == ["web-2"]
    assert names(("architecture", ["x86_64"]), ("image-type", ["machine"])) == [
        "db-10",
        "web-1",
        "web-2",
    ]
    assert names(("architecture", ["arm64"])) == []
    assert names(("block-device-mapping.volume-size", ["1"]), ("image-id", [web1, db])) == [
        "db-10",
        "web-1",
    ]
    error = error_of(ec2.describe_images, Filters=[{"Name": "colour", "Values": ["red"]}])
    assert error["Code"] == "InvalidParameterValue" and "colour" in error["Message"]


def test_pages_and_request_errors(kiln, ec2):
    made = {register_ami(kiln, name=f"app-{i}") for i in range(7)}
    first = ec2.describe_images(Owners=["self"], MaxResults=5)
    assert len(first["Images"]) == 5 and first["NextToken"]
    second = ec2.describe_images(Owners=["self"], MaxResults=5, NextToken=first["NextToken"])
    assert len(second["Images"]) == 2 and "NextToken" not in second
    assert set(_ids(first["Images"] + second["Images"])) == made
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], PaginationConfig={"PageSize": 5}
    )
    assert {i["ImageId"] for page in pages for i in page["Images"]} == made

    assert error_of(ec2.describe_images, MaxResults=3)["Code"] == "InvalidParameterValue"
    some = sorted(made)[0]
    assert error_of(ec2.describe_images, ImageIds=[some], MaxResults=5)["Code"] == (
        "InvalidParameterCombination"
    )
    assert error_of(ec2.describe_images, NextToken="forged.token")["Code"] == (
        "InvalidPaginationToken"
    )
    assert error_of(ec2.describe_images, ImageIds=["ami-xyz"])["Code"] == "InvalidAMIID.Malformed"
    missing = error_of(ec2.describe_images, ImageIds=[some, "ami-0123456789abcdef9"])
    assert missing["Code"] == "InvalidAMIID.NotFound"
    assert "ami-0123456789abcdef9" in missing["Message"] and some not in missing["Message"]
    assert error_of(ec2.describe_images, Owners=["someone"])["Code"] == "InvalidUserID.Malformed"
    assert error_of(ec2.describe_images, DryRun=True)["Code"] == "DryRunOperation"
    assert error_of(ec2.describe_instances)["Code"] == "InvalidAction"


# -- launch permissions across accounts --------------------------------------------------------


def test_launch_permissions_share_an_ami_with_another_account(kiln, ec2, other):
    other_id, theirs, _ = other
    ami = register_ami(kiln, name="shared-base")
    assert ami not in _ids(theirs.describe_images()["Images"])
    assert error_of(theirs.describe_images, ImageIds=[ami])["Code"] == "InvalidAMIID.NotFound"
    assert error_of(theirs.deregister_image, ImageId=ami)["Code"] == "InvalidAMIID.NotFound"

    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": other_id}]})
    got = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert got["LaunchPermissions"] == [{"UserId": other_id}]
    assert _ids(theirs.describe_images()["Images"]) == [ami]
    assert _ids(theirs.describe_images(ExecutableUsers=["self"])["Images"]) == [ami]
    assert _ids(theirs.describe_images(Owners=[kiln.default_account])["Images"]) == [ami]
    assert theirs.describe_images(Owners=["self"])["Images"] == []
    assert _ids(ec2.describe_images(ExecutableUsers=[other_id])["Images"]) == [ami]
    # the other account sees and launches it, but neither changes nor reads its permissions
    for call, kwargs in (
        (theirs.deregister_image, {}),
        (theirs.describe_image_attribute, {"Attribute": "launchPermission"}),
        (theirs.modify_image_attribute, {"Description": {"Value": "mine now"}}),
        (theirs.reset_image_attribute, {"Attribute": "launchPermission"}),
    ):
        error = error_of(call, ImageId=ami, **kwargs)
        assert error["Code"] == "AuthFailure" and ami in error["Message"], call
    boot = theirs.describe_image_attribute(ImageId=ami, Attribute="bootMode")
    assert boot["BootMode"] == {"Value": "legacy-bios"}

    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [{"UserId": other_id}]})
    assert theirs.describe_images()["Images"] == []

    # the older form, and public images
    ec2.modify_image_attribute(
        ImageId=ami, Attribute="launchPermission", OperationType="add", UserGroups=["all"]
    )
    (public,) = theirs.describe_images(ExecutableUsers=["all"])["Images"]
    assert public["Public"] is True
    assert _ids(
        theirs.describe_images(Filters=[{"Name": "is-public", "Values": ["true"]}])["Images"]
    ) == [ami]
    ec2.reset_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert (
        ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"]
        == []
    )
    assert theirs.describe_images()["Images"] == []

    # organizations are recorded but grant Kiln's accounts nothing
    org = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"OrganizationArn": org}]})
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")[
        "LaunchPermissions"
    ] == [{"OrganizationArn": org}]
    assert theirs.describe_images()["Images"] == []


def test_modify_image_attribute_checks_its_input(kiln, ec2):
    ami = register_ami(kiln)
    bad_user = error_of(
        ec2.modify_image_attribute, ImageId=ami, LaunchPermission={"Add": [{"UserId": "bob"}]}
    )
    assert bad_user["Code"] == "InvalidAMIAttributeItemValue" and "bob" in bad_user["Message"]
    bad_org = error_of(
        ec2.modify_image_attribute,
        ImageId=ami,
        LaunchPermission={"Add": [{"OrganizationArn": "arn:aws:nope"}]},
    )
    assert bad_org["Code"] == "InvalidAMIAttributeItemValue"
    assert error_of(ec2.modify_image_attribute, ImageId=ami)["Code"] == "MissingParameter"
    assert (
        error_of(
            ec2.modify_image_attribute,
            ImageId=ami,
            Attribute="launchPermission",
            UserIds=["1" * 12],
        )["Code"]
        == "MissingParameter"
    )
    assert (
        error_of(
            ec2.modify_image_attribute, ImageId="ami-0123456789abcdef9", Description={"Value": "x"}
        )["Code"]
        == "InvalidAMIID.NotFound"
    )
    ec2.modify_image_attribute(ImageId=ami, Description={"Value": "now described"})
    described = ec2.describe_image_attribute(ImageId=ami, Attribute="description")
    assert described["Description"] == {"Value": "now described"}
    ec2.modify_image_attribute(ImageId=ami, Attribute="description", Value="again")
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["Description"] == "again"
    kernel = ec2.describe_image_attribute(ImageId=ami, Attribute="kernel")
    assert kernel["ImageId"] == ami and not kernel.get("KernelId", {}).get("Value")
    mapping = ec2.describe_image_attribute(ImageId=ami, Attribute="blockDeviceMapping")
    assert mapping["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 1


# -- CopyImage ---------------------------------------------------------------------------------


def test_copy_image_between_regions(kiln, ec2, endpoint, admin):
    source = register_ami(kiln, name="golden", description="the base", tags={"Team": "web"})
    west = client_for(endpoint, admin, "ec2", region=OTHER_REGION)
    copied = west.copy_image(
        SourceRegion=REGION,
        SourceImageId=source,
        Name="golden-west",
        CopyImageTags=True,
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Stage", "Value": "dr"}]}],
        ClientToken="copy-1",
    )["ImageId"]
    assert copied != source and copied.startswith("ami-")
    (image,) = west.describe_images(ImageIds=[copied])["Images"]
    assert image["SourceImageId"] == source and image["SourceImageRegion"] == REGION
    assert image["OwnerId"] == kiln.default_account and image["Name"] == "golden-west"
    assert image["Description"] == f"[Copied {source} from {REGION}] the base"
    assert {t["Key"]: t["Value"] for t in image["Tags"]} == {"Team": "web", "Stage": "dr"}
    assert disk_path(kiln, OTHER_REGION, copied).is_file()
    assert (
        disk_path(kiln, OTHER_REGION, copied).read_bytes()
        == disk_path(kiln, REGION, source).read_bytes()
    )
    assert copied not in _ids(ec2.describe_images()["Images"])
    # the same client token answers the first copy; a different request under it is refused
    again = west.copy_image(
        SourceRegion=REGION,
        SourceImageId=source,
        Name="golden-west",
        CopyImageTags=True,
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Stage", "Value": "dr"}]}],
        ClientToken="copy-1",
    )
    assert again["ImageId"] == copied
    duplicate = error_of(
        west.copy_image, SourceRegion=REGION, SourceImageId=source, Name="golden-west"
    )
    assert duplicate["Code"] == "InvalidAMIName.Duplicate"
    encrypted = west.copy_image(
        SourceRegion=REGION, SourceImageId=source, Name="golden-enc", Encrypted=True
    )["ImageId"]
    ebs = west.describe_images(ImageIds=[encrypted])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]
    assert ebs["Encrypted"] is True and ebs["KmsKeyId"] == "alias/aws/ebs"
    for kwargs, code in (
        ({"SourceImageId": source, "Name": "bad!name"}, "InvalidAMIName.Malformed"),
        ({"SourceImageId": source, "Name": "keyed", "KmsKeyId": "k"}, "InvalidParameterDependency"),
        ({"SourceImageId": "ami-0123456789abcdef9", "Name": "gone"}, "InvalidAMIID.NotFound"),
        ({"SourceImageId": "ami-nope", "Name": "gone"}, "InvalidAMIID.Malformed"),
    ):
        assert error_of(west.copy_image, SourceRegion=REGION, **kwargs)["Code"] == code, kwargs
    wrong_region = error_of(
        ec2.copy_image, SourceRegion=OTHER_REGION, SourceImageId=source, Name="nowhere"
    )
    assert wrong_region["Code"] == "InvalidAMIID.NotFound"


def test_copy_needs_launch_permission(kiln, ec2, other):
    other_id, theirs, _ = other
    source = register_ami(kiln, name="private")
    refused = error_of(theirs.copy_image, SourceRegion=REGION, SourceImageId=source, Name="mine")
    assert refused["Code"] == "InvalidAMIID.NotFound"
    ec2.modify_image_attribute(ImageId=source, LaunchPermission={"Add": [{"UserId": other_id}]})
    copied = theirs.copy_image(SourceRegion=REGION, SourceImageId=source, Name="mine")["ImageId"]
    (image,) = theirs.describe_images(Owners=["self"])["Images"]
    assert image["ImageId"] == copied and image["OwnerId"] == other_id
    assert copied not in _ids(ec2.describe_images()["Images"])


def test_copy_image_into_a_region_with_its_own_store(tmp_path):
    west_store = tmp_path / "amis-west"
    settings = Settings.load(
        environ={"KILN_IMAGE_STORES": f"{OTHER_REGION}={west_store}"}, data_dir=tmp_path / "own"
    )
    own = Kiln(settings)
    try:
        with background_server(own) as url:
            west = client_for(url, own.admin_credentials(), "ec2", region=OTHER_REGION)
            source = register_ami(own, name="golden")
            copied = west.copy_image(SourceRegion=REGION, SourceImageId=source, Name="golden-west")[
                "ImageId"
            ]
            disk = west_store / OTHER_REGION / f"{copied}.qcow2"
            assert disk.read_bytes() == disk_path(own, REGION, source).read_bytes()
            assert not (own.data_dir / "amis" / OTHER_REGION).exists()
            with own.database.transaction() as session:
                row = registry.get(session, copied)
            assert row is not None and row.image_arn is None and row.size == disk.stat().st_size
            assert row.manifest["copiedFrom"] == {"imageId": source, "region": REGION}
            # a source whose disk is gone: Unavailable, and no row or disk is left
            disk_path(own, REGION, source).unlink()
            lost = error_of(west.copy_image, SourceRegion=REGION, SourceImageId=source, Name="x-2")
            assert lost["Code"] == "InvalidAMIID.Unavailable", lost
            assert sorted(p.name for p in (west_store / OTHER_REGION).iterdir()) == [disk.name]
            assert _ids(west.describe_images(Owners=["self"])["Images"]) == [copied]
            west.deregister_image(ImageId=copied)
            assert not disk.exists()
    finally:
        own.close()


# -- DeregisterImage ---------------------------------------------------------------------------


def test_deregister_removes_the_disk_only_when_unshared(kiln, ec2):
    source = register_ami(kiln, name="to-go")
    copy = ec2.copy_image(SourceRegion=REGION, SourceImageId=source, Name="kept")["ImageId"]
    assert ec2.deregister_image(ImageId=source)["Return"] is True
    assert not disk_path(kiln, REGION, source).exists()
    assert disk_path(kiln, REGION, copy).is_file()
    assert error_of(ec2.describe_images, ImageIds=[source])["Code"] == "InvalidAMIID.NotFound"
    assert _ids(ec2.describe_images(ImageIds=[copy])["Images"]) == [copy]
    assert error_of(ec2.deregister_image, ImageId=source)["Code"] == "InvalidAMIID.NotFound"

    first = register_ami(kiln, name="one of two")
    disk = ImageStores.relative(REGION, first)
    second = register_ami(kiln, name="two of two", disk=disk)
    ec2.deregister_image(ImageId=first)
    assert disk_path(kiln, REGION, first).is_file()  # the second AMI still names it
    ec2.deregister_image(ImageId=second)
    assert not disk_path(kiln, REGION, first).exists()
    assert error_of(ec2.deregister_image, ImageId=copy, DryRun=True)["Code"] == "DryRunOperation"
    assert disk_path(kiln, REGION, copy).is_file()


# -- tags --------------------------------------------------------------------------------------


def test_tags_on_images(kiln, ec2, other):
    other_id, theirs, _ = other
    one, two = register_ami(kiln, name="tag-one"), register_ami(kiln, name="tag-two")
    ec2.create_tags(
        Resources=[one, two], Tags=[{"Key": "Team", "Value": "web"}, {"Key": "Tier", "Value": ""}]
    )
    ec2.create_tags(Resources=[two], Tags=[{"Key": "Env", "Value": "prod"}])
    listed = ec2.describe_tags()["Tags"]
    assert {(t["ResourceId"], t["Key"], t["Value"], t["ResourceType"]) for t in listed} == {
        (one, "Team", "web", "image"),
        (one, "Tier", "", "image"),
        (two, "Team", "web", "image"),
        (two, "Tier", "", "image"),
        (two, "Env", "prod", "image"),
    }
    by_resource = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [one]}])["Tags"]
    assert sorted(t["Key"] for t in by_resource) == ["Team", "Tier"]
    by_value = ec2.describe_tags(
        Filters=[{"Name": "key", "Values": ["Env"]}, {"Name": "value", "Values": ["pr*"]}]
    )["Tags"]
    assert [t["ResourceId"] for t in by_value] == [two]
    paged = ec2.describe_tags(MaxResults=5)
    assert len(paged["Tags"]) == 5 and "NextToken" not in paged

    ec2.delete_tags(Resources=[one, two], Tags=[{"Key": "Team", "Value": "other"}])
    assert len(ec2.describe_tags(Filters=[{"Name": "key", "Values": ["Team"]}])["Tags"]) == 2
    ec2.delete_tags(Resources=[one], Tags=[{"Key": "Team", "Value": "web"}, {"Key": "Tier"}])
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [one]}])["Tags"] == []
    ec2.delete_tags(Resources=[two])
    assert ec2.describe_tags()["Tags"] == []

    assert (
        error_of(ec2.create_tags, Resources=[one], Tags=[{"Key": "aws:owner", "Value": "x"}])[
            "Code"
        ]
        == "InvalidParameterValue"
    )
    assert (
        error_of(
            ec2.create_tags, Resources=["i-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}]
        )["Code"]
        == "InvalidID"
    )
    assert (
        error_of(
            ec2.create_tags, Resources=["ami-0123456789abcdef9"], Tags=[{"Key": "a", "Value": "b"}]
        )["Code"]
        == "InvalidAMIID.NotFound"
    )
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert error_of(ec2.create_tags, Resources=[one], Tags=many)["Code"] == "TagLimitExceeded"

    # tags on a shared AMI are the tagging account's own
    ec2.modify_image_attribute(ImageId=one, LaunchPermission={"Add": [{"UserId": other_id}]})
    theirs.create_tags(Resources=[one], Tags=[{"Key": "Mine", "Value": "yes"}])
    assert [t["Key"] for t in theirs.describe_images(ImageIds=[one])["Images"][0]["Tags"]] == [
        "Mine"
    ]
    assert "Tags" not in ec2.describe_images(ImageIds=[one])["Images"][0]
    assert (
        error_of(theirs.create_tags, Resources=[two], Tags=[{"Key": "a", "Value": "b"}])["Code"]
        == "InvalidAMIID.NotFound"
    )


# -- IAM ---------------------------------------------------------------------------------------


def _user(endpoint, admin, name: str, *, managed: str | None = None, inline: dict | None = None):
    iam = client_for(endpoint, admin, "iam")
    iam.create_user(UserName=name)
    if managed:
        iam.attach_user_policy(UserName=name, PolicyArn=MANAGED + managed)
    if inline:
        iam.put_user_policy(UserName=name, PolicyName="ec2", PolicyDocument=json.dumps(inline))
    key = iam.create_access_key(UserName=name)["AccessKey"]

    class Key:
        access_key_id = key["AccessKeyId"]
        secret_access_key = key["SecretAccessKey"]

    return client_for(endpoint, Key, "ec2")


def test_iam_decides_on_image_arns(kiln, endpoint, admin):
    allowed, denied = register_ami(kiln, name="may-go"), register_ami(kiln, name="must-stay")
    nobody = _user(endpoint, admin, "builder", managed="AWSImageBuilderReadOnlyAccess")
    error = error_of(nobody.deregister_image, ImageId=allowed)
    assert error["Code"] == "UnauthorizedOperation" and "ec2:DeregisterImage" in error["Message"]
    assert f"arn:aws:ec2:{REGION}::image/{allowed}" in error["Message"]
    scoped = _user(
        endpoint,
        admin,
        "cleaner",
        inline={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": ["ec2:DeregisterImage", "ec2:CreateTags"],
                    "Resource": f"arn:aws:ec2:{REGION}::image/{allowed}",
                },
            ],
        },
    )
    assert len(scoped.describe_images(Owners=["self"])["Images"]) == 2
    assert error_of(scoped.deregister_image, ImageId=denied)["Code"] == "UnauthorizedOperation"
    tag = [{"Key": "a", "Value": "b"}]
    scoped.create_tags(Resources=[allowed], Tags=tag)
    assert error_of(scoped.create_tags, Resources=[allowed, denied], Tags=tag)["Code"] == (
        "UnauthorizedOperation"
    )
    assert scoped.deregister_image(ImageId=allowed)["Return"] is True
    assert (
        error_of(scoped.modify_image_attribute, ImageId=denied, Description={"Value": "x"})["Code"]
        == "UnauthorizedOperation"
    )


# -- parents of image recipes ------------------------------------------------------------------

COMPONENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands: ["echo hello"]
"""


def _recipe(ib, name: str, parent: str) -> str:
    component = ib.create_component(
        name=f"{name}-{new_ami_id()[4:12]}",
        semanticVersion="1.0.0",
        platform="Linux",
        data=COMPONENT,
    )["componentBuildVersionArn"]
    return ib.create_image_recipe(
        name=name, semanticVersion="1.0.0", parentImage=parent,
        components=[{"componentArn": component}],
    )["imageRecipeArn"]  # fmt: skip


def _planned_parent(kiln: Kiln, image_arn: str) -> str:
    with kiln.database.transaction() as session:
        item = session.query(WorkItemRow).filter(WorkItemRow.subject == image_arn).one()
        return str(item.payload["plan"]["parent_image"])


def test_recipe_parents_need_launch_permission(kiln, ec2, other, endpoint):
    other_id, _theirs, credentials = other
    ami = register_ami(kiln, name="team-base")
    their_ib = client_for(endpoint, credentials)
    error = error_of(_recipe, their_ib, "borrowed", ami)
    assert error["Code"] == "InvalidParameterValueException"
    assert ami in error["Message"] and other_id in error["Message"]
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": other_id}]})
    recipe = _recipe(their_ib, "borrowed", ami)
    make_instance_profile(endpoint, credentials, "builder")
    infra = their_ib.create_infrastructure_configuration(
        name="infra", instanceProfileName="builder"
    )["infrastructureConfigurationArn"]
    built = their_ib.create_image(imageRecipeArn=recipe, infrastructureConfigurationArn=infra)
    assert _planned_parent(kiln, built["imageBuildVersionArn"]) == ami
    # revoked before the next build: the build is refused
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [{"UserId": other_id}]})
    refused = error_of(
        their_ib.create_image, imageRecipeArn=recipe, infrastructureConfigurationArn=infra
    )
    assert refused["Code"] == "InvalidParameterValueException" and ami in refused["Message"]


def test_image_arn_parents_resolve_to_the_newest_available_ami(kiln, ib, endpoint, admin):
    amis, arns = {}, {}
    for version, status in (("1.0.0", "AVAILABLE"), ("1.1.0", "AVAILABLE"), ("1.2.0", "FAILED")):
        arns[version] = add_image(kiln, "base", version, status=status)
        amis[version] = register_ami(kiln, name=f"base {version}", image_arn=arns[version])
    register_ami(kiln, name="base 1.1.0 west", region=OTHER_REGION, image_arn=arns["1.1.0"])
    base = f"arn:aws:imagebuilder:{REGION}:{kiln.default_account}:image/base"
    make_instance_profile(endpoint, admin, "builder")
    infra = ib.create_infrastructure_configuration(name="infra", instanceProfileName="builder")[
        "infrastructureConfigurationArn"
    ]
    for name, selector, expected in (
        ("latest", "1.x.x", "1.1.0"),
        ("pinned", "1.0.x", "1.0.0"),
        ("any", "x.x.x", "1.1.0"),
    ):
        recipe = _recipe(ib, name, f"{base}/{selector}")
        image = ib.create_image(imageRecipeArn=recipe, infrastructureConfigurationArn=infra)
        assert _planned_parent(kiln, image["imageBuildVersionArn"]) == amis[expected], selector
    recipe = _recipe(ib, "failed-only", f"{base}/1.2.x")
    error = error_of(ib.create_image, imageRecipeArn=recipe, infrastructureConfigurationArn=infra)
    assert error["Code"] == "ResourceNotFoundException" and "AVAILABLE" in error["Message"]
