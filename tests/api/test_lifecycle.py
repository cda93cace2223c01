"""Lifecycle policies through an unmodified boto3 client."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import IMAGEBUILDER_TRUST, sibling_client

DEPRECATE = {
    "action": {"type": "DEPRECATE"},
    "filter": {"type": "AGE", "value": 6, "unit": "MONTHS", "retainAtLeast": 2},
}
DELETE = {
    "action": {"type": "DELETE", "includeResources": {"amis": True, "snapshots": True}},
    "filter": {"type": "COUNT", "value": 10},
    "exclusionRules": {"tagMap": {"keep": "yes"}, "amis": {"isPublic": True}},
}
RECIPES = {"recipes": [{"name": "web", "semanticVersion": "1.x.x"}]}


def role_of(ib):
    """The execution role, made in the account behind `ib` the first time it is needed."""
    iam = sibling_client(ib, "iam")
    try:
        return iam.get_role(RoleName="lifecycle")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(
            RoleName="lifecycle", AssumeRolePolicyDocument=json.dumps(IMAGEBUILDER_TRUST)
        )["Role"]["Arn"]


def create(ib, name="cleanup", details=(DEPRECATE, DELETE), selection=RECIPES, **extra):
    extra.setdefault("resourceType", "AMI_IMAGE")
    return ib.create_lifecycle_policy(
        name=name,
        executionRole=role_of(ib),
        policyDetails=list(details),
        resourceSelection=selection,
        **extra,
    )


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def test_create_get_update_list_delete(store_ib):
    ib = store_ib
    created = create(ib, name="Clean Up", description="old images", tags={"team": "a"})
    arn = created["lifecyclePolicyArn"]
    assert arn.endswith(":lifecycle-policy/clean-up")
    policy = ib.get_lifecycle_policy(lifecyclePolicyArn=arn)["lifecyclePolicy"]
    assert policy["name"] == "Clean Up"
    assert policy["status"] == "ENABLED"
    assert policy["executionRole"] == role_of(ib)
    assert policy["policyDetails"] == [DEPRECATE, DELETE]
    assert policy["resourceSelection"] == RECIPES
    assert policy["tags"] == {"team": "a"}
    assert isinstance(policy["dateCreated"], dt.datetime)
    assert "dateUpdated" not in policy

    ib.update_lifecycle_policy(
        lifecyclePolicyArn=arn,
        executionRole=role_of(ib),
        resourceType="AMI_IMAGE",
        policyDetails=[DEPRECATE],
        resourceSelection={"tagMap": {"env": "dev"}},
        status="DISABLED",
    )
    updated = ib.get_lifecycle_policy(lifecyclePolicyArn=arn)["lifecyclePolicy"]
    assert updated["policyDetails"] == [DEPRECATE]
    assert updated["resourceSelection"] == {"tagMap": {"env": "dev"}}
    assert updated["status"] == "DISABLED"
    assert "description" not in updated  # update replaces, as AWS does
    assert updated["dateCreated"] == policy["dateCreated"]
    assert "dateUpdated" in updated

    summaries = ib.list_lifecycle_policies()["lifecyclePolicySummaryList"]
    assert [s["arn"] for s in summaries] == [arn]
    assert summaries[0]["tags"] == {"team": "a"}
    disabled = ib.list_lifecycle_policies(filters=[{"name": "Status", "values": ["ENABLED"]}])
    assert disabled["lifecyclePolicySummaryList"] == []

    assert ib.delete_lifecycle_policy(lifecyclePolicyArn=arn)["lifecyclePolicyArn"] == arn
    assert error_of(ib.get_lifecycle_policy, lifecyclePolicyArn=arn)["Code"] == (
        "ResourceNotFoundException"
    )


def test_duplicates_and_missing(ib):
    create(ib)
    assert error_of(create, ib)["Code"] == "ResourceAlreadyExistsException"
    ghost = "arn:aws:imagebuilder:us-east-1:123456789012:lifecycle-policy/ghost"
    assert error_of(ib.delete_lifecycle_policy, lifecyclePolicyArn=ghost)["Code"] == (
        "ResourceNotFoundException"
    )
    assert (
        error_of(
            ib.update_lifecycle_policy,
            lifecyclePolicyArn=ghost,
            executionRole=role_of(ib),
            resourceType="AMI_IMAGE",
            policyDetails=[DEPRECATE],
            resourceSelection=RECIPES,
        )["Code"]
        == "ResourceNotFoundException"
    )


@pytest.mark.parametrize(
    ("details", "fault"),
    [
        ([{"action": {"type": "DELETE"}, "filter": {"type": "AGE", "value": 3}}], "unit"),
        (
            [
                {
                    "action": {"type": "DELETE"},
                    "filter": {"type": "COUNT", "value": 3, "unit": "DAYS"},
                }
            ],
            "COUNT filter takes no unit",
        ),
        (
            [
                {
                    "action": {"type": "DELETE"},
                    "filter": {"type": "COUNT", "value": 3, "retainAtLeast": 1},
                }
            ],
            "retainAtLeast",
        ),
        ([DEPRECATE, DEPRECATE], "DEPRECATE is repeated"),
        (
            [
                {
                    "action": {"type": "DELETE", "includeResources": {"containers": True}},
                    "filter": {"type": "COUNT", "value": 3},
                }
            ],
            "containers does not apply to AMI_IMAGE",
        ),
        (
            [
                {
                    "action": {
                        "type": "DISABLE",
                        "includeResources": {"amis": True, "snapshots": True},
                    },
                    "filter": {"type": "COUNT", "value": 3},
                }
            ],
            "snapshots applies to DELETE only",
        ),
    ],
)
def test_rules_are_checked(ib, details, fault):
    error = error_of(create, ib, details=details)
    assert error["Code"] == "InvalidParameterValueException"
    assert fault in error["Message"]
    assert ib.list_lifecycle_policies()["lifecyclePolicySummaryList"] == []


def test_container_policies_and_selection(ib):
    containers = {
        "action": {"type": "DELETE", "includeResources": {"containers": True}},
        "filter": {"type": "COUNT", "value": 5},
        "exclusionRules": {"amis": {"isPublic": True}},
    }
    error = error_of(create, ib, details=[containers], resourceType="CONTAINER_IMAGE")
    assert "exclusionRules.amis applies to AMI_IMAGE" in error["Message"]
    del containers["exclusionRules"]
    create(ib, details=[containers], resourceType="CONTAINER_IMAGE")

    both = {**RECIPES, "tagMap": {"a": "b"}}
    assert error_of(create, ib, name="bee", selection=both)["Code"] == (
        "InvalidParameterCombinationException"
    )
    assert error_of(create, ib, name="bee", selection={})["Code"] == (
        "InvalidParameterCombinationException"
    )
    wild = {"recipes": [{"name": "web", "semanticVersion": "x.1.x"}]}
    assert error_of(create, ib, name="bee", selection=wild)["Code"] == (
        "InvalidParameterValueException"
    )


def test_pagination_and_idempotency(ib):
    first = create(ib, name="pol0", clientToken="t")
    again = create(ib, name="pol0", clientToken="t")
    assert again["lifecyclePolicyArn"] == first["lifecyclePolicyArn"]
    assert error_of(create, ib, name="pol9", clientToken="t")["Code"] == (
        "IdempotentParameterMismatchException"
    )
    for i in range(1, 5):
        create(ib, name=f"pol{i}")
    seen = []
    pages = ib.get_paginator("list_lifecycle_policies").paginate(PaginationConfig={"PageSize": 2})
    for page in pages:
        assert len(page["lifecyclePolicySummaryList"]) <= 2
        seen += [s["name"] for s in page["lifecyclePolicySummaryList"]]
    assert seen == [f"pol{i}" for i in range(5)]
