"""EnableImageDeprecation, DisableImageDeprecation, DisableImage and EnableImage with unmodified
boto3, and what DescribeImages then shows the owner and an account the AMI is shared with."""

from __future__ import annotations

import datetime as dt

from kiln.amis import registry
from kiln.core.ids import ami_id as new_ami_id
from tests.api.test_ec2_images import REGION, ec2, error_of, other, register_ami

__all__ = ["ec2", "other"]


def _shared_ami(kiln, ec2, other_id: str) -> str:
    ami = new_ami_id()
    register_ami(kiln, ami=ami, name="states", disk=f"{REGION}/{ami}.qcow2")
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": other_id}]})
    return ami


def _ids(client, **params) -> list[str]:
    return [image["ImageId"] for image in client.describe_images(**params)["Images"]]


def test_deprecation_hides_the_ami_from_other_accounts(kiln, ec2, other):
    other_id, theirs, _ = other
    ami = _shared_ami(kiln, ec2, other_id)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(second=40, microsecond=0)
    assert ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=soon)["Return"] is True
    [image] = ec2.describe_images(ImageIds=[ami])["Images"]
    expected = (soon.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:00.000Z"
    )
    assert image["DeprecationTime"] == expected
    assert _ids(theirs) == [ami]  # not deprecated yet

    with kiln.database.transaction() as session:  # the deprecation time comes
        registry.set_deprecation(session, ami, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert _ids(ec2, Owners=["self"]) == [ami]  # the owner still sees it
    assert _ids(theirs) == []
    assert _ids(theirs, IncludeDeprecated=True) == [ami]
    assert _ids(theirs, ImageIds=[ami]) == [ami]
    filtered = ec2.describe_images(
        Filters=[{"Name": "deprecation-time", "Values": ["2020-01-01T00:00:00.000Z"]}]
    )
    assert [i["ImageId"] for i in filtered["Images"]] == [ami]

    assert ec2.disable_image_deprecation(ImageId=ami)["Return"] is True
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert _ids(theirs) == [ami]


def test_deprecation_times_are_checked(kiln, ec2, other):
    other_id, theirs, _ = other
    ami = _shared_ami(kiln, ec2, other_id)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=11 * 365)
    for when in (past, far):
        error = error_of(ec2.enable_image_deprecation, ImageId=ami, DeprecateAt=when)
        assert error["Code"] == "InvalidParameterValue"
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    error = error_of(theirs.enable_image_deprecation, ImageId=ami, DeprecateAt=soon)
    assert error["Code"] == "AuthFailure"
    missing = "ami-0123456789abcdef0"
    error = error_of(ec2.enable_image_deprecation, ImageId=missing, DeprecateAt=soon)
    assert error["Code"] == "InvalidAMIID.NotFound"
    error = error_of(ec2.enable_image_deprecation, ImageId=ami, DeprecateAt=soon, DryRun=True)
    assert error["Code"] == "DryRunOperation"
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[ami])["Images"][0]


def test_disable_makes_the_ami_private_and_enable_restores_it(kiln, ec2, other):
    other_id, theirs, _ = other
    ami = _shared_ami(kiln, ec2, other_id)
    assert error_of(theirs.disable_image, ImageId=ami)["Code"] == "AuthFailure"

    assert ec2.disable_image(ImageId=ami)["Return"] is True
    assert _ids(ec2, Owners=["self"]) == []
    [image] = ec2.describe_images(Owners=["self"], IncludeDisabled=True)["Images"]
    assert image["ImageId"] == ami and image["State"] == "disabled"
    got = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert got["LaunchPermissions"] == []
    assert _ids(theirs, IncludeDisabled=True) == []
    assert error_of(theirs.describe_images, ImageIds=[ami])["Code"] == "InvalidAMIID.NotFound"
    copy = error_of(ec2.copy_image, SourceImageId=ami, SourceRegion=REGION, Name="copy")
    assert copy["Code"] == "InvalidAMIID.Unavailable"
    share = error_of(
        ec2.modify_image_attribute, ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]}
    )
    assert share["Code"] == "InvalidAMIID.Unavailable" and "can't be shared" in share["Message"]

    assert ec2.enable_image(ImageId=ami)["Return"] is True
    [image] = ec2.describe_images(ImageIds=[ami])["Images"]
    assert image["State"] == "available" and image["Public"] is False
    assert _ids(theirs) == []  # re-enabled AMIs stay private
