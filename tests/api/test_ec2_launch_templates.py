"""EC2 launch templates through unmodified boto3 (and one AWS CLI call) against a live Kiln."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.api.test_aws_cli import AWS, aws
from tests.conftest import client_for

DATA = {"InstanceType": "t3.small"}


@pytest.fixture
def ec2(endpoint, admin):
    return client_for(endpoint, admin, "ec2")


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def make(ec2, name="web", **data):
    data = data or {"ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.micro"}
    return ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)[
        "LaunchTemplate"
    ]


def test_create_and_describe(ec2, kiln):
    created = ec2.create_launch_template(
        LaunchTemplateName="web-servers",
        VersionDescription="first",
        LaunchTemplateData={
            "ImageId": "ami-0123456789abcdef0",
            "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20}}],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}
            ],
        },
        TagSpecifications=[
            {"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "blue"}]}
        ],
    )["LaunchTemplate"]
    template_id = created["LaunchTemplateId"]
    assert template_id.startswith("lt-") and len(template_id) == 20
    assert int(template_id[3:], 16) >= 0
    assert created["LaunchTemplateName"] == "web-servers"
    assert created["DefaultVersionNumber"] == 1 and created["LatestVersionNumber"] == 1
    assert created["CreatedBy"].endswith(":root") or ":user/" in created["CreatedBy"]
    assert created["Tags"] == [{"Key": "team", "Value": "blue"}]

    listed = ec2.describe_launch_templates()["LaunchTemplates"]
    assert [t["LaunchTemplateId"] for t in listed] == [template_id]
    by_name = ec2.describe_launch_templates(LaunchTemplateNames=["web-servers"])
    assert by_name["LaunchTemplates"][0]["LaunchTemplateId"] == template_id

    version = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)[
        "LaunchTemplateVersions"
    ]
    assert len(version) == 1
    assert version[0]["VersionNumber"] == 1 and version[0]["DefaultVersion"] is True
    assert version[0]["VersionDescription"] == "first"
    data = version[0]["LaunchTemplateData"]
    assert data["ImageId"] == "ami-0123456789abcdef0"
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20}}]
    assert data["TagSpecifications"][0]["Tags"] == [{"Key": "Name", "Value": "web"}]


def test_versions_inherit_from_their_source(ec2):
    template = make(ec2, "app", ImageId="ami-00000000000000001", InstanceType="t3.micro")
    tid = template["LaunchTemplateId"]
    second = ec2.create_launch_template_version(
        LaunchTemplateId=tid,
        SourceVersion="1",
        VersionDescription="bigger",
        LaunchTemplateData={"InstanceType": "m5.large"},
    )["LaunchTemplateVersion"]
    assert second["VersionNumber"] == 2 and second["DefaultVersion"] is False
    assert second["LaunchTemplateData"] == {
        "ImageId": "ami-00000000000000001",
        "InstanceType": "m5.large",
    }
    # without a source, the version holds only what it was given; by name works too
    third = ec2.create_launch_template_version(
        LaunchTemplateName="app", LaunchTemplateData={"KeyName": "ops"}
    )["LaunchTemplateVersion"]
    assert third["VersionNumber"] == 3 and third["LaunchTemplateData"] == {"KeyName": "ops"}

    described = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"][0]
    assert (described["DefaultVersionNumber"], described["LatestVersionNumber"]) == (1, 3)

    error = error_of(
        ec2.create_launch_template_version,
        LaunchTemplateId=tid,
        SourceVersion="9",
        LaunchTemplateData=DATA,
    )
    assert error["Code"] == "InvalidLaunchTemplateId.VersionNotFound"


def test_describe_versions_by_alias_range_and_filter(ec2):
    tid = make(ec2, "ranged", ImageId="ami-00000000000000001")["LaunchTemplateId"]
    for n in (2, 3, 4):
        ec2.create_launch_template_version(
            LaunchTemplateId=tid,
            LaunchTemplateData={"ImageId": f"ami-0000000000000000{n}", "InstanceType": "t3.nano"},
        )

    def numbers(**kwargs):
        found = ec2.describe_launch_template_versions(**kwargs)["LaunchTemplateVersions"]
        return [v["VersionNumber"] for v in found]

    assert numbers(LaunchTemplateId=tid) == [4, 3, 2, 1]
    assert numbers(LaunchTemplateId=tid, Versions=["$Latest", "$Default"]) == [4, 1]
    assert numbers(LaunchTemplateId=tid, Versions=["2", "$Latest"]) == [4, 2]
    assert numbers(LaunchTemplateId=tid, MinVersion="2", MaxVersion="3") == [3, 2]
    assert numbers(
        LaunchTemplateId=tid, Filters=[{"Name": "image-id", "Values": ["ami-*3", "ami-*1"]}]
    ) == [3, 1]
    assert numbers(
        LaunchTemplateId=tid, Filters=[{"Name": "is-default-version", "Values": ["true"]}]
    ) == [1]
    assert numbers(
        LaunchTemplateId=tid, Filters=[{"Name": "instance-type", "Values": ["t3.nano"]}]
    ) == [4, 3, 2]
    # without a template, $Latest of every template in the account and region
    other = make(ec2, "another")["LaunchTemplateId"]
    latest = ec2.describe_launch_template_versions(Versions=["$Latest"])["LaunchTemplateVersions"]
    assert {(v["LaunchTemplateId"], v["VersionNumber"]) for v in latest} == {(tid, 4), (other, 1)}

    pages = ec2.get_paginator("describe_launch_template_versions").paginate(
        LaunchTemplateId=tid, PaginationConfig={"PageSize": 3}
    )
    sizes = [len(p["LaunchTemplateVersions"]) for p in pages]
    assert sizes == [3, 1]

    assert (
        error_of(ec2.describe_launch_template_versions, LaunchTemplateId=tid, Versions=["7"])[
            "Code"
        ]
        == "InvalidLaunchTemplateId.VersionNotFound"
    )
    assert (
        error_of(
            ec2.describe_launch_template_versions,
            LaunchTemplateId=tid,
            Filters=[{"Name": "no-such-filter", "Values": ["x"]}],
        )["Code"]
        == "InvalidParameterValue"
    )


def test_describe_templates_with_filters_and_pages(ec2):
    for name, team in (("blue-web", "blue"), ("blue-db", "blue"), ("red-web", "red")):
        ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={"InstanceType": "t3.micro"},
            TagSpecifications=[
                {"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": team}]}
            ],
        )

    def names(**kwargs):
        return sorted(
            t["LaunchTemplateName"]
            for t in ec2.describe_launch_templates(**kwargs)["LaunchTemplates"]
        )

    assert names(Filters=[{"Name": "tag:team", "Values": ["blue"]}]) == ["blue-db", "blue-web"]
    assert names(Filters=[{"Name": "launch-template-name", "Values": ["*-web"]}]) == [
        "blue-web",
        "red-web",
    ]
    assert names(
        Filters=[
            {"Name": "tag:team", "Values": ["blue"]},
            {"Name": "launch-template-name", "Values": ["*web"]},
        ]
    ) == ["blue-web"]
    assert names(Filters=[{"Name": "tag-key", "Values": ["team"]}]) == [
        "blue-db",
        "blue-web",
        "red-web",
    ]

    first = ec2.describe_launch_templates(MaxResults=2)
    assert len(first["LaunchTemplates"]) == 2 and first["NextToken"]
    rest = ec2.describe_launch_templates(MaxResults=2, NextToken=first["NextToken"])
    assert len(rest["LaunchTemplates"]) == 1 and "NextToken" not in rest
    everything = [
        t["LaunchTemplateName"]
        for page in ec2.get_paginator("describe_launch_templates").paginate(
            PaginationConfig={"PageSize": 1}
        )
        for t in page["LaunchTemplates"]
    ]
    assert sorted(everything) == ["blue-db", "blue-web", "red-web"]
    assert error_of(ec2.describe_launch_templates, NextToken="forged.token")["Code"] == (
        "InvalidPaginationToken"
    )


def test_default_version_and_deletion(ec2):
    tid = make(ec2, "rolling")["LaunchTemplateId"]
    for _ in range(3):
        ec2.create_launch_template_version(
            LaunchTemplateId=tid, SourceVersion="$Latest", LaunchTemplateData=DATA
        )
    modified = ec2.modify_launch_template(LaunchTemplateId=tid, DefaultVersion="3")
    assert modified["LaunchTemplate"]["DefaultVersionNumber"] == 3
    default = ec2.describe_launch_template_versions(LaunchTemplateId=tid, Versions=["$Default"])
    assert default["LaunchTemplateVersions"][0]["VersionNumber"] == 3
    assert error_of(ec2.modify_launch_template, LaunchTemplateId=tid, DefaultVersion="8")[
        "Code"
    ] == ("InvalidLaunchTemplateId.VersionNotFound")

    deleted = ec2.delete_launch_template_versions(
        LaunchTemplateId=tid, Versions=["4", "3", "1", "12"]
    )
    assert [v["VersionNumber"] for v in deleted["SuccessfullyDeletedLaunchTemplateVersions"]] == [
        4,
        1,
    ]
    failed = {
        v["VersionNumber"]: v["ResponseError"]["Code"]
        for v in deleted["UnsuccessfullyDeletedLaunchTemplateVersions"]
    }
    assert failed == {3: "unexpectedError", 12: "launchTemplateVersionDoesNotExist"}
    described = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"][0]
    assert (described["DefaultVersionNumber"], described["LatestVersionNumber"]) == (3, 3)
    # numbers are never reused
    fifth = ec2.create_launch_template_version(LaunchTemplateId=tid, LaunchTemplateData=DATA)
    assert fifth["LaunchTemplateVersion"]["VersionNumber"] == 5

    gone = ec2.delete_launch_template(LaunchTemplateName="rolling")["LaunchTemplate"]
    assert gone["LaunchTemplateId"] == tid
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    assert error_of(ec2.describe_launch_template_versions, LaunchTemplateId=tid)["Code"] == (
        "InvalidLaunchTemplateId.NotFound"
    )
    # the name is free again
    assert make(ec2, "rolling")["LaunchTemplateId"] != tid


def test_errors_are_ec2s(ec2):
    make(ec2, "taken")
    assert (
        error_of(make, ec2, "taken")["Code"] == "InvalidLaunchTemplateName.AlreadyExistsException"
    )
    assert error_of(make, ec2, "no spaces allowed")["Code"] == (
        "InvalidLaunchTemplateName.MalformedException"
    )
    assert error_of(make, ec2, "ab")["Code"] == "InvalidLaunchTemplateName.MalformedException"
    missing = "lt-0123456789abcdef0"
    for call, kwargs in (
        (ec2.describe_launch_templates, {"LaunchTemplateIds": [missing]}),
        (ec2.delete_launch_template, {"LaunchTemplateId": missing}),
        (ec2.modify_launch_template, {"LaunchTemplateId": missing, "DefaultVersion": "1"}),
        (
            ec2.create_launch_template_version,
            {"LaunchTemplateId": missing, "LaunchTemplateData": DATA},
        ),
    ):
        assert error_of(call, **kwargs)["Code"] == "InvalidLaunchTemplateId.NotFound", call
    assert error_of(ec2.describe_launch_templates, LaunchTemplateIds=["lt-12"])["Code"] == (
        "InvalidLaunchTemplateId.Malformed"
    )
    assert error_of(ec2.delete_launch_template, LaunchTemplateName="nope")["Code"] == (
        "InvalidLaunchTemplateName.NotFoundException"
    )
    assert error_of(ec2.describe_launch_templates, LaunchTemplateNames=["nope"])["Code"] == (
        "InvalidLaunchTemplateName.NotFoundException"
    )
    assert error_of(ec2.delete_launch_template)["Code"] == "MissingParameter"
    tagged_wrong = error_of(
        ec2.create_launch_template,
        LaunchTemplateName="wrong-tags",
        LaunchTemplateData=DATA,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}],
    )
    assert tagged_wrong["Code"] == "InvalidParameterValue"
    dry = error_of(
        ec2.create_launch_template,
        LaunchTemplateName="dry",
        LaunchTemplateData=DATA,
        DryRun=True,
    )
    assert dry["Code"] == "DryRunOperation"
    assert error_of(ec2.describe_launch_templates, LaunchTemplateNames=["dry"])["Code"] == (
        "InvalidLaunchTemplateName.NotFoundException"
    )


def test_client_token_makes_create_idempotent(ec2):
    first = ec2.create_launch_template(
        LaunchTemplateName="once", LaunchTemplateData=DATA, ClientToken="token-1"
    )["LaunchTemplate"]
    again = ec2.create_launch_template(
        LaunchTemplateName="once", LaunchTemplateData=DATA, ClientToken="token-1"
    )["LaunchTemplate"]
    assert again["LaunchTemplateId"] == first["LaunchTemplateId"]


def test_tags_on_launch_templates(ec2):
    tid = make(ec2, "tagged")["LaunchTemplateId"]
    ec2.create_tags(Resources=[tid], Tags=[{"Key": "env", "Value": "prod"}])
    template = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"][0]
    assert template["Tags"] == [{"Key": "env", "Value": "prod"}]
    described = ec2.describe_tags(
        Filters=[{"Name": "resource-type", "Values": ["launch-template"]}]
    )
    assert described["Tags"] == [
        {"Key": "env", "Value": "prod", "ResourceId": tid, "ResourceType": "launch-template"}
    ]
    ec2.delete_tags(Resources=[tid], Tags=[{"Key": "env"}])
    template = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"][0]
    assert "Tags" not in template
    assert error_of(
        ec2.create_tags, Resources=["lt-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}]
    )["Code"] == ("InvalidLaunchTemplateId.NotFound")


def test_another_account_sees_none_of_them(ec2, endpoint, kiln):
    tid = make(ec2, "private")["LaunchTemplateId"]
    other = client_for(endpoint, kiln.create_account("other"), "ec2")
    assert other.describe_launch_templates()["LaunchTemplates"] == []
    assert error_of(other.describe_launch_templates, LaunchTemplateIds=[tid])["Code"] == (
        "InvalidLaunchTemplateId.NotFound"
    )
    assert error_of(
        other.create_launch_template_version, LaunchTemplateId=tid, LaunchTemplateData=DATA
    )["Code"] == ("InvalidLaunchTemplateId.NotFound")
    assert error_of(other.delete_launch_template, LaunchTemplateId=tid)["Code"] == (
        "InvalidLaunchTemplateId.NotFound"
    )
    # the same name is free in the other account, and in another region
    assert make(other, "private")["LaunchTemplateId"] != tid
    elsewhere = client_for(endpoint, kiln.admin_credentials(), "ec2", region="eu-west-1")
    assert elsewhere.describe_launch_templates()["LaunchTemplates"] == []
    assert make(elsewhere, "private")["LaunchTemplateId"] != tid
    assert [t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]] == [
        tid
    ]


def _user(endpoint, admin, name, policy=None):
    iam = client_for(endpoint, admin, "iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="lt", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]

    class Key:
        access_key_id = key["AccessKeyId"]
        secret_access_key = key["SecretAccessKey"]

    return client_for(endpoint, Key, "ec2")


def test_iam_decides_on_launch_template_arns(ec2, endpoint, admin, kiln):
    tid = make(ec2, "guarded")["LaunchTemplateId"]
    nobody = _user(endpoint, admin, "nobody")
    error = error_of(nobody.describe_launch_templates)
    assert error["Code"] == "UnauthorizedOperation"
    assert "ec2:DescribeLaunchTemplates" in error["Message"]

    reader = _user(
        endpoint,
        admin,
        "reader",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ec2:Describe*", "ec2:CreateLaunchTemplateVersion"],
                    "Resource": "*",
                },
                {
                    "Effect": "Deny",
                    "Action": "ec2:CreateLaunchTemplateVersion",
                    "Resource": f"arn:aws:ec2:*:{kiln.default_account}:launch-template/{tid}",
                },
            ],
        },
    )
    assert [
        t["LaunchTemplateId"] for t in reader.describe_launch_templates()["LaunchTemplates"]
    ] == [tid]
    for kwargs in ({"LaunchTemplateId": tid}, {"LaunchTemplateName": "guarded"}):
        denied = error_of(reader.create_launch_template_version, LaunchTemplateData=DATA, **kwargs)
        assert denied["Code"] == "UnauthorizedOperation"
        assert f"launch-template/{tid}" in denied["Message"]
    denied = error_of(make, reader, "mine")
    assert denied["Code"] == "UnauthorizedOperation"
    assert "launch-template/*" in denied["Message"]


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_describe_launch_templates_with_the_aws_cli(ec2, endpoint, admin):
    tid = make(ec2, "cli-template")["LaunchTemplateId"]
    done = aws(
        endpoint,
        admin,
        "ec2",
        "describe-launch-templates",
        "--launch-template-names",
        "cli-template",
    )
    listed = json.loads(done.stdout)["LaunchTemplates"]
    assert [(t["LaunchTemplateId"], t["DefaultVersionNumber"]) for t in listed] == [(tid, 1)]
