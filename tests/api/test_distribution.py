"""Distribution configurations through an unmodified boto3 client."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

EAST = {
    "region": "us-east-1",
    "amiDistributionConfiguration": {
        "name": "web {{ imagebuilder:buildDate }}",
        "description": "web AMI",
        "targetAccountIds": ["111122223333"],
        "amiTags": {"tier": "web"},
        "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc",
        "launchPermission": {
            "userIds": ["444455556666"],
            "userGroups": ["all"],
            "organizationArns": ["arn:aws:organizations::123456789012:organization/o-abcdefghij"],
        },
    },
    "launchTemplateConfigurations": [
        {"launchTemplateId": "lt-0123456789abcdef0", "accountId": "111122223333"}
    ],
    "ssmParameterConfigurations": [
        {"parameterName": "/images/web", "amiAccountId": "111122223333", "dataType": "text"}
    ],
}
WEST = {
    "region": "us-west-2",
    "containerDistributionConfiguration": {
        "description": "web containers",
        "containerTags": ["latest", "v{{ imagebuilder:buildVersion }}"],
        "targetRepository": {"service": "ECR", "repositoryName": "team/web"},
    },
    "s3ExportConfiguration": {
        "roleName": "vmimport",
        "diskImageFormat": "RAW",
        "s3Bucket": "exports",
        "s3Prefix": "web/",
    },
    "fastLaunchConfigurations": [
        {"enabled": True, "maxParallelLaunches": 6, "launchTemplate": {"launchTemplateName": "fl"}}
    ],
}


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def create(ib, name="web", distributions=None, **extra):
    return ib.create_distribution_configuration(
        name=name, distributions=distributions or [EAST], **extra
    )["distributionConfigurationArn"]


def get(ib, arn):
    return ib.get_distribution_configuration(distributionConfigurationArn=arn)[
        "distributionConfiguration"
    ]


def test_create_get_list_delete(ib):
    arn = create(ib, name="Web Dist", distributions=[EAST, WEST], description="d", tags={"t": "1"})
    assert re.match(
        r"^arn:aws:imagebuilder:us-east-1:\d{12}:distribution-configuration/web-dist$", arn
    )
    got = get(ib, arn)
    assert got["arn"] == arn and got["name"] == "Web Dist" and got["description"] == "d"
    assert got["distributions"] == [EAST, WEST]
    assert got["timeoutMinutes"] == 720
    assert got["tags"] == {"t": "1"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", got["dateCreated"])
    assert "dateUpdated" not in got

    summaries = ib.list_distribution_configurations()["distributionConfigurationSummaryList"]
    assert summaries == [
        {
            "arn": arn,
            "name": "Web Dist",
            "description": "d",
            "dateCreated": got["dateCreated"],
            "tags": {"t": "1"},
            "regions": ["us-east-1", "us-west-2"],
        }
    ]
    deleted = ib.delete_distribution_configuration(distributionConfigurationArn=arn)
    assert deleted["distributionConfigurationArn"] == arn
    error = error_of(ib.get_distribution_configuration, distributionConfigurationArn=arn)
    assert error["Code"] == "ResourceNotFoundException"


def test_update_replaces_distributions_and_description(ib):
    arn = create(ib, distributions=[EAST, WEST], description="old", tags={"t": "1"})
    before = get(ib, arn)
    ib.update_distribution_configuration(
        distributionConfigurationArn=arn, distributions=[{"region": "eu-west-1"}]
    )
    got = get(ib, arn)
    assert got["distributions"] == [{"region": "eu-west-1"}]
    assert "description" not in got
    assert got["dateCreated"] == before["dateCreated"] and got["tags"] == {"t": "1"}
    assert got["dateUpdated"] and got["timeoutMinutes"] == 720
    summary = ib.list_distribution_configurations()["distributionConfigurationSummaryList"][0]
    assert summary["regions"] == ["eu-west-1"] and summary["dateUpdated"] == got["dateUpdated"]
    error = error_of(
        ib.update_distribution_configuration,
        distributionConfigurationArn=arn,
        distributions=[{"region": "mars-north-1"}],
    )
    assert error["Code"] == "InvalidParameterValueException"
    assert get(ib, arn)["distributions"] == [{"region": "eu-west-1"}]


def test_regions_must_be_known_and_unique(ib):
    error = error_of(create, ib, distributions=[{"region": "mars-north-1"}])
    assert error["Code"] == "InvalidParameterValueException" and "mars-north-1" in error["Message"]
    error = error_of(create, ib, distributions=[{"region": "us-east-1"}, {"region": "us-east-1"}])
    assert error["Code"] == "InvalidParameterValueException" and "us-east-1" in error["Message"]
    error = error_of(ib.create_distribution_configuration, name="empty", distributions=[])
    assert error["Code"] == "InvalidParameterValueException"


def test_templates_and_cross_member_rules(ib):
    def with_ami(**ami):
        return {"region": "us-east-1", "amiDistributionConfiguration": ami}

    cases = [
        (with_ami(name="web {{ imagebuilder:buildTime }}"), "InvalidParameterValueException"),
        (with_ami(name="web {{ imagebuilder:buildDate }} !!"), "InvalidParameterValueException"),
        (
            with_ami(launchPermission={"userGroups": ["admins"]}),
            "InvalidParameterValueException",
        ),
        (
            {
                "region": "us-east-1",
                "containerDistributionConfiguration": {
                    "containerTags": ["bad tag"],
                    "targetRepository": {"service": "ECR", "repositoryName": "web"},
                },
            },
            "InvalidParameterValueException",
        ),
        (
            {
                "region": "us-east-1",
                "ssmParameterConfigurations": [
                    {"parameterName": "/ami", "amiAccountId": "999999999999"}
                ],
            },
            "InvalidParameterCombinationException",
        ),
        (
            {
                "region": "us-east-1",
                "fastLaunchConfigurations": [
                    {
                        "enabled": True,
                        "launchTemplate": {
                            "launchTemplateId": "lt-0123456789abcdef0",
                            "launchTemplateName": "x",
                        },
                    }
                ],
            },
            "InvalidParameterCombinationException",
        ),
        (
            {
                "region": "us-east-1",
                "launchTemplateConfigurations": [
                    {"launchTemplateId": "lt-0123456789abcdef0", "accountId": "111122223333"},
                    {"launchTemplateId": "lt-0123456789abcdef1", "accountId": "111122223333"},
                ],
            },
            "InvalidParameterValueException",
        ),
        (
            {
                "region": "us-east-1",
                "s3ExportConfiguration": {
                    "roleName": "vmimport",
                    "diskImageFormat": "VMDK",
                    "s3Bucket": "Not_A_Bucket",
                },
            },
            "InvalidParameterValueException",
        ),
    ]
    for distribution, code in cases:
        assert error_of(create, ib, distributions=[distribution])["Code"] == code, distribution
    assert ib.list_distribution_configurations()["distributionConfigurationSummaryList"] == []


def test_names_unique_filters_and_pagination(ib):
    made = [create(ib, name=f"dist-{i}") for i in range(5)]
    assert error_of(create, ib, name="DIST-0")["Code"] == "ResourceAlreadyExistsException"
    seen = []
    paginator = ib.get_paginator("list_distribution_configurations")
    for page in paginator.paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["distributionConfigurationSummaryList"]) <= 2
        seen += [d["arn"] for d in page["distributionConfigurationSummaryList"]]
    assert seen == made
    named = ib.list_distribution_configurations(
        filters=[{"name": "name", "values": ["dist-1", "dist-4"]}]
    )["distributionConfigurationSummaryList"]
    assert [d["name"] for d in named] == ["dist-1", "dist-4"]


def test_client_token_replays_and_mismatches(ib):
    first = create(ib, clientToken="tok-1")
    assert create(ib, clientToken="tok-1") == first
    error = error_of(create, ib, distributions=[WEST], clientToken="tok-1")
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
    error = error_of(ib.delete_distribution_configuration, distributionConfigurationArn=arn)
    assert error["Code"] == "ResourceDependencyException" and pipeline in error["Message"]
    assert get(ib, arn)["arn"] == arn
