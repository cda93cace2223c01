"""Workflows through an unmodified boto3 client."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

BUILD = """
name: custom-build
description: A build workflow with parameters.
schemaVersion: 1.0
parameters:
  - name: waitForActionAtEnd
    type: boolean
    default: false
  - name: retries
    type: integer
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    onFailure: Abort
    inputs:
      waitFor: "ssmAgent"
  - name: ApplyBuildComponents
    action: ExecuteComponents
    onFailure: Abort
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
"""
ARN = re.compile(
    r"^arn:aws:imagebuilder:us-east-1:\d{12}:workflow/build/[a-z0-9-_]+/\d+\.\d+\.\d+/\d+$"
)


def create(ib, name="my-build", version="1.0.0", data=BUILD, kind="BUILD", **extra):
    return ib.create_workflow(name=name, semanticVersion=version, type=kind, data=data, **extra)


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response


def code_of(call, *args, **kwargs):
    return error_of(call, *args, **kwargs)["Error"]["Code"]


def test_create_get_list_delete(store_ib):
    ib = store_ib
    created = create(ib, name="My Build", description="builds", tags={"team": "a"})
    arn = created["workflowBuildVersionArn"]
    assert ARN.match(arn) and arn.endswith("workflow/build/my-build/1.0.0/1")
    refs = created["latestVersionReferences"]
    assert refs["latestVersionArn"].endswith("workflow/build/my-build/x.x.x")
    assert refs["latestMinorVersionArn"].endswith("workflow/build/my-build/1.0.x")

    workflow = ib.get_workflow(workflowBuildVersionArn=arn)["workflow"]
    assert workflow["arn"] == arn
    assert workflow["name"] == "My Build"
    assert workflow["type"] == "BUILD"
    assert workflow["data"] == BUILD
    assert workflow["tags"] == {"team": "a"}
    assert workflow["parameters"] == [
        {"name": "waitForActionAtEnd", "type": "boolean", "defaultValue": ["false"]},
        {"name": "retries", "type": "integer"},
    ]
    by_version = ib.get_workflow(workflowBuildVersionArn=arn.rsplit("/", 1)[0])["workflow"]
    assert by_version["arn"] == arn

    listed = ib.list_workflows()["workflowVersionList"]
    assert [w["arn"] for w in listed] == [arn.rsplit("/", 1)[0]]
    builds = ib.list_workflow_build_versions(workflowVersionArn=arn.rsplit("/", 1)[0])
    assert [w["arn"] for w in builds["workflowSummaryList"]] == [arn]

    assert ib.delete_workflow(workflowBuildVersionArn=arn)["workflowBuildVersionArn"] == arn
    assert code_of(ib.get_workflow, workflowBuildVersionArn=arn) == "ResourceNotFoundException"
    assert ib.list_workflows()["workflowVersionList"] == []


def test_same_name_may_exist_once_per_type(ib):
    create(ib, data=BUILD)
    assert code_of(create, ib) == "ResourceAlreadyExistsException"
    tested = create(ib, kind="TEST", data=BUILD)
    assert ":workflow/test/my-build/1.0.0/1" in tested["workflowBuildVersionArn"]
    types = ib.list_workflows(filters=[{"name": "type", "values": ["TEST"]}])
    assert [w["type"] for w in types["workflowVersionList"]] == ["TEST"]


def test_wildcards_select_the_latest_version(ib):
    for version in ("1.6.8", "2.2.4", "1.7.8"):
        create(ib, version=version)
    base = create(ib, name="other")["workflowBuildVersionArn"].split(":workflow/")[0]

    def pick(selector):
        arn = f"{base}:workflow/build/my-build/{selector}"
        return ib.get_workflow(workflowBuildVersionArn=arn)["workflow"]["version"]

    assert pick("x.x.x") == "2.2.4"
    assert pick("1.x.x") == "1.7.8"
    assert pick("1.6.x") == "1.6.8"
    missing = f"{base}:workflow/test/my-build/x.x.x"
    assert code_of(ib.get_workflow, workflowBuildVersionArn=missing) == (
        "ResourceNotFoundException"
    )
    builds = ib.list_workflow_build_versions(
        workflowVersionArn=f"{base}:workflow/build/my-build/1.x.x"
    )
    assert [w["version"] for w in builds["workflowSummaryList"]] == ["1.6.8", "1.7.8"]


def test_managed_workflows_are_listed_and_resolvable(ib):
    amazon = ib.list_workflows(owner="Amazon")["workflowVersionList"]
    names = {w["name"] for w in amazon}
    assert {"build-image", "test-image", "build-container", "distribute-container"} <= names
    assert all(w["owner"] == "aws" for w in amazon)
    arn = "arn:aws:imagebuilder:us-east-1:aws:workflow/build/build-image/x.x.x"
    workflow = ib.get_workflow(workflowBuildVersionArn=arn)["workflow"]
    assert (
        workflow["arn"] == "arn:aws:imagebuilder:us-east-1:aws:workflow/build/build-image/1.0.0/1"
    )
    assert workflow["type"] == "BUILD" and "LaunchInstance" in workflow["data"]
    # seeding twice (second request) adds nothing
    assert len(ib.list_workflows(owner="Amazon")["workflowVersionList"]) == len(amazon)
    assert ib.list_workflows()["workflowVersionList"] == []  # default owner is Self
    refused = error_of(ib.delete_workflow, workflowBuildVersionArn=workflow["arn"])
    assert refused["Error"]["Code"] == "InvalidParameterValueException"


def test_invalid_documents_list_every_problem(ib):
    bad = "schemaVersion: 1.0\nsteps:\n  - name: A\n    action: NoSuchAction\n  - action: x\n"
    response = error_of(create, ib, data=bad)
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "NoSuchAction" in response["Error"]["Message"]
    assert "steps[1]" in response["Error"]["Message"]
    assert code_of(create, ib, data="{{ nope: [") == "InvalidParameterValueException"
    assert code_of(create, ib, version="1.0.1", data=BUILD, kind="DISTRIBUTION") == (
        "InvalidParameterValueException"
    )  # LaunchInstance is no distribution action
    assert ib.list_workflows()["workflowVersionList"] == []


def test_uri_and_data_rules(ib):
    response = error_of(
        ib.create_workflow,
        name="uri-doc",
        semanticVersion="1.0.0",
        type="BUILD",
        uri="s3://b/k.yaml",
    )
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "s3://b/k.yaml" in response["Error"]["Message"]
    both = error_of(create, ib, uri="s3://b/k.yaml")
    assert both["Error"]["Code"] == "InvalidParameterCombinationException"
    neither = error_of(ib.create_workflow, name="uri-doc", semanticVersion="1.0.0", type="BUILD")
    assert neither["Error"]["Code"] == "InvalidParameterValueException"


def test_dry_run_changes_nothing(ib):
    response = error_of(create, ib, dryRun=True)
    assert response["Error"]["Code"] == "DryRunOperationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert ib.list_workflows()["workflowVersionList"] == []


def test_pagination_and_idempotency(ib):
    first = create(ib, version="1.0.0", clientToken="tok")
    again = create(ib, version="1.0.0", clientToken="tok")
    assert again["workflowBuildVersionArn"] == first["workflowBuildVersionArn"]
    assert code_of(create, ib, version="1.0.9", clientToken="tok") == (
        "IdempotentParameterMismatchException"
    )
    for i in range(1, 6):
        create(ib, version=f"1.0.{i}")
    seen = []
    for page in ib.get_paginator("list_workflows").paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["workflowVersionList"]) <= 2
        seen += [w["version"] for w in page["workflowVersionList"]]
    assert sorted(seen) == [f"1.0.{i}" for i in range(6)]


def test_by_name_matches_part_of_the_name(ib):
    create(ib, name="alpha-build")
    create(ib, name="beta-build")
    found = ib.list_workflows(byName=True, filters=[{"name": "name", "values": ["alpha"]}])
    assert [w["name"] for w in found["workflowVersionList"]] == ["alpha-build"]
    bad = error_of(ib.list_workflows, filters=[{"name": "color", "values": ["x"]}])
    assert bad["Error"]["Code"] == "InvalidParameterValueException"
