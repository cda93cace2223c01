"""Infrastructure configurations through an unmodified boto3 client."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client_for, make_instance_profile

FULL = {
    "description": "builders",
    "instanceTypes": ["t3.medium", "m5.large"],
    "securityGroupIds": ["sg-0123456789abcdef0"],
    "subnetId": "subnet-0123456789abcdef0",
    "logging": {"s3Logs": {"s3BucketName": "build-logs", "s3KeyPrefix": "kiln/"}},
    "keyPair": "debug-key",
    "terminateInstanceOnFailure": False,
    "snsTopicArn": "arn:aws:sns:us-east-1:123456789012:builds",
    "resourceTags": {"cost": "builds"},
    "instanceMetadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
    "placement": {"availabilityZone": "us-east-1a", "tenancy": "default"},
}


@pytest.fixture(autouse=True)
def profiles(endpoint, admin):
    """The instance profiles these tests name exist in the account (a prerequisite)."""
    for name in ("KilnBuildProfile", "OtherProfile"):
        make_instance_profile(endpoint, admin, name)


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def create(ib, name="builders", profile="KilnBuildProfile", **extra):
    return ib.create_infrastructure_configuration(name=name, instanceProfileName=profile, **extra)[
        "infrastructureConfigurationArn"
    ]


def test_create_get_list_delete(ib):
    arn = create(ib, name="Build Fleet", tags={"team": "a"}, **FULL)
    assert re.match(
        r"^arn:aws:imagebuilder:us-east-1:\d{12}:infrastructure-configuration/build-fleet$", arn
    )
    got = ib.get_infrastructure_configuration(infrastructureConfigurationArn=arn)[
        "infrastructureConfiguration"
    ]
    assert got["arn"] == arn
    assert got["name"] == "Build Fleet"
    assert got["instanceProfileName"] == "KilnBuildProfile"
    assert got["tags"] == {"team": "a"}
    for member, value in FULL.items():
        assert got[member] == value, member
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", got["dateCreated"])
    assert "dateUpdated" not in got

    summaries = ib.list_infrastructure_configurations()["infrastructureConfigurationSummaryList"]
    assert summaries == [
        {
            "arn": arn,
            "name": "Build Fleet",
            "description": "builders",
            "dateCreated": got["dateCreated"],
            "resourceTags": {"cost": "builds"},
            "tags": {"team": "a"},
            "instanceTypes": ["t3.medium", "m5.large"],
            "instanceProfileName": "KilnBuildProfile",
            "placement": {"availabilityZone": "us-east-1a", "tenancy": "default"},
        }
    ]
    deleted = ib.delete_infrastructure_configuration(infrastructureConfigurationArn=arn)
    assert deleted["infrastructureConfigurationArn"] == arn
    error = error_of(ib.get_infrastructure_configuration, infrastructureConfigurationArn=arn)
    assert error["Code"] == "ResourceNotFoundException"


def test_terminate_on_failure_defaults_to_true(ib):
    arn = create(ib)
    got = ib.get_infrastructure_configuration(infrastructureConfigurationArn=arn)[
        "infrastructureConfiguration"
    ]
    assert got["terminateInstanceOnFailure"] is True
    assert "subnetId" not in got and "logging" not in got


def test_update_replaces_the_whole_configuration(ib):
    arn = create(ib, tags={"team": "a"}, **FULL)
    before = ib.get_infrastructure_configuration(infrastructureConfigurationArn=arn)[
        "infrastructureConfiguration"
    ]
    updated = ib.update_infrastructure_configuration(
        infrastructureConfigurationArn=arn,
        instanceProfileName="OtherProfile",
        instanceTypes=["c5.xlarge"],
    )
    assert updated["infrastructureConfigurationArn"] == arn
    got = ib.get_infrastructure_configuration(infrastructureConfigurationArn=arn)[
        "infrastructureConfiguration"
    ]
    assert got["instanceProfileName"] == "OtherProfile"
    assert got["instanceTypes"] == ["c5.xlarge"]
    assert got["terminateInstanceOnFailure"] is True
    for cleared in (
        "description",
        "subnetId",
        "securityGroupIds",
        "logging",
        "keyPair",
        "snsTopicArn",
        "resourceTags",
        "instanceMetadataOptions",
        "placement",
    ):
        assert cleared not in got, cleared
    assert got["dateCreated"] == before["dateCreated"]
    assert got["name"] == before["name"] and got["arn"] == arn
    assert got["tags"] == {"team": "a"}
    assert re.match(r"^\d{4}-\d\d-\d\dT", got["dateUpdated"])
    ghost = arn.rsplit("/", 1)[0] + "/ghost"
    error = error_of(
        ib.update_infrastructure_configuration,
        infrastructureConfigurationArn=ghost,
        instanceProfileName="x",
    )
    assert error["Code"] == "ResourceNotFoundException"


def test_names_are_unique_per_account_and_region(ib):
    create(ib, name="fleet")
    assert error_of(create, ib, name="Fleet")["Code"] == "ResourceAlreadyExistsException"


def test_invalid_members_are_refused(ib):
    cases = [
        ({"instanceTypes": ["not a type"]}, "InvalidParameterValueException", "not a type"),
        ({"instanceTypes": ["t3.micro", "t3.micro"]}, "InvalidParameterValueException", "twice"),
        (
            {"logging": {"s3Logs": {"s3BucketName": "Bad_Bucket"}}},
            "InvalidParameterValueException",
            "Bad_Bucket",
        ),
        (
            {"logging": {"s3Logs": {"s3KeyPrefix": "logs/"}}},
            "InvalidParameterValueException",
            "s3BucketName",
        ),
        (
            {"placement": {"availabilityZone": "eu-west-1a"}},
            "InvalidParameterValueException",
            "eu-west-1a",
        ),
        (
            {"placement": {"tenancy": "host", "hostId": "h-1", "hostResourceGroupArn": "arn:x"}},
            "InvalidParameterCombinationException",
            "hostId",
        ),
        (
            {"placement": {"tenancy": "dedicated", "hostId": "h-1"}},
            "InvalidParameterCombinationException",
            "tenancy",
        ),
    ]
    for extra, code, words in cases:
        error = error_of(create, ib, name="bad-one", **extra)
        assert error["Code"] == code, extra
        assert words in error["Message"], extra
    assert ib.list_infrastructure_configurations()["infrastructureConfigurationSummaryList"] == []


def test_list_filters_and_pagination(ib):
    made = [create(ib, name=f"fleet-{i}") for i in range(5)]
    seen = []
    paginator = ib.get_paginator("list_infrastructure_configurations")
    for page in paginator.paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["infrastructureConfigurationSummaryList"]) <= 2
        seen += [c["arn"] for c in page["infrastructureConfigurationSummaryList"]]
    assert seen == made
    named = ib.list_infrastructure_configurations(
        filters=[{"name": "name", "values": ["fleet-3"]}]
    )["infrastructureConfigurationSummaryList"]
    assert [c["name"] for c in named] == ["fleet-3"]
    error = error_of(
        ib.list_infrastructure_configurations, filters=[{"name": "platform", "values": ["x"]}]
    )
    assert error["Code"] == "InvalidParameterValueException"


def test_client_token_replays_and_mismatches(ib):
    first = create(ib, clientToken="tok-1")
    assert create(ib, clientToken="tok-1") == first
    error = error_of(create, ib, profile="Other", clientToken="tok-1")
    assert error["Code"] == "IdempotentParameterMismatchException"


def test_deletion_refused_while_used(ib, kiln):
    from kiln.store import resources
    from kiln.store.resources import Scope

    arn = create(ib)
    account = arn.split(":")[4]
    pipeline = f"arn:aws:imagebuilder:us-east-1:{account}:image-pipeline/nightly"
    with kiln.database.transaction() as session:
        resources.add_reference(
            session, Scope(account, "us-east-1"), source_arn=pipeline, target_arn=arn
        )
    error = error_of(ib.delete_infrastructure_configuration, infrastructureConfigurationArn=arn)
    assert error["Code"] == "ResourceDependencyException" and pipeline in error["Message"]


def test_other_regions_do_not_see_it(ib, endpoint, admin):
    from tests.conftest import client_for

    arn = create(ib)
    west = client_for(endpoint, admin, region="us-west-2")
    assert west.list_infrastructure_configurations()["infrastructureConfigurationSummaryList"] == []
    error = error_of(west.get_infrastructure_configuration, infrastructureConfigurationArn=arn)
    assert error["Code"] == "ResourceNotFoundException"


def test_stored_members_are_the_output_shape():
    import botocore.session

    from kiln.services.imagebuilder import infrastructure

    model = botocore.session.get_session().get_service_model("imagebuilder")
    shape = set(model.shape_for("InfrastructureConfiguration").members)
    request = set(model.shape_for("UpdateInfrastructureConfigurationRequest").members)
    stored = set(infrastructure._MEMBERS)
    assert stored | {"arn", "name", "dateCreated", "dateUpdated", "tags"} == shape
    assert stored == request - {"infrastructureConfigurationArn", "clientToken"}


def test_the_instance_profile_must_exist_and_be_passable(ib, endpoint, admin):
    error = error_of(create, ib, name="ghostly", profile="NoSuchProfile")
    assert error["Code"] == "InvalidParameterValueException"
    assert "NoSuchProfile" in error["Message"] and "does not exist" in error["Message"]
    iam = client_for(endpoint, admin, "iam")
    iam.create_user(UserName="no-pass")
    iam.attach_user_policy(
        UserName="no-pass", PolicyArn="arn:aws:iam::aws:policy/AWSImageBuilderReadOnlyAccess"
    )
    iam.put_user_policy(
        UserName="no-pass",
        PolicyName="create-infra",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "imagebuilder:Create*", "Resource": "*"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="no-pass")["AccessKey"]

    class Key:
        access_key_id = key["AccessKeyId"]
        secret_access_key = key["SecretAccessKey"]

    error = error_of(create, client_for(endpoint, Key), name="passless")
    assert error["Code"] == "AccessDeniedException"
    assert "iam:PassRole" in error["Message"] and "role/KilnBuildProfile" in error["Message"]
