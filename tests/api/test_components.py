"""Components through an unmodified boto3 client, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import client_for, sibling_client

EXAMPLE = (Path(__file__).parents[2] / "examples" / "components" / "hello-kiln.yaml").read_text()
ARN = re.compile(r"^arn:aws:imagebuilder:us-east-1:\d{12}:component/[a-z0-9-_]+/\d+\.\d+\.\d+/\d+$")
TEST_ONLY = """
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands: ["true"]
"""


def create(ib, name="hello", version="1.0.0", data=EXAMPLE, **extra):
    return ib.create_component(
        name=name, semanticVersion=version, platform="Linux", data=data, **extra
    )


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response


def test_create_get_list_delete(store_ib):
    ib = store_ib
    created = create(ib, name="Hello World", description="says hello", tags={"team": "a"})
    arn = created["componentBuildVersionArn"]
    assert ARN.match(arn) and "/hello-world/1.0.0/1" in arn
    assert created["latestVersionReferences"]["latestVersionArn"].endswith("hello-world/x.x.x")
    assert created["clientToken"]

    component = ib.get_component(componentBuildVersionArn=arn)["component"]
    assert component["arn"] == arn
    assert component["name"] == "Hello World"
    assert component["type"] == "BUILD"
    assert component["state"] == {"status": "ACTIVE"}
    assert component["parameters"][0]["name"] == "Greeting"
    assert component["data"] == EXAMPLE
    assert component["tags"] == {"team": "a"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", component["dateCreated"])

    listed = ib.list_components()["componentVersionList"]
    assert [c["arn"] for c in listed] == [arn.rsplit("/", 1)[0]]
    builds = ib.list_component_build_versions(componentVersionArn=arn.rsplit("/", 1)[0])
    assert [c["arn"] for c in builds["componentSummaryList"]] == [arn]

    assert ib.delete_component(componentBuildVersionArn=arn)["componentBuildVersionArn"] == arn
    assert error_of(ib.get_component, componentBuildVersionArn=arn)["Error"]["Code"] == (
        "ResourceNotFoundException"
    )
    assert ib.list_components()["componentVersionList"] == []


def test_wildcards_select_the_latest_version(store_ib):
    ib = store_ib
    for version in ("1.6.8", "2.2.4", "1.7.8"):
        create(ib, version=version)
    base = create(ib, name="other")["componentBuildVersionArn"].split(":component/")[0]

    def pick(selector):
        arn = f"{base}:component/hello/{selector}"
        return ib.get_component(componentBuildVersionArn=arn)["component"]["version"]

    assert pick("x.x.x") == "2.2.4"
    assert pick("1.x.x") == "1.7.8"
    assert pick("1.6.x") == "1.6.8"
    assert pick("1.6.8") == "1.6.8"
    assert (
        error_of(ib.get_component, componentBuildVersionArn=f"{base}:component/hello/3.x.x")[
            "Error"
        ]["Code"]
        == "ResourceNotFoundException"
    )
    for bad in ("x.2.x", "1.x.8"):
        response = error_of(
            ib.get_component, componentBuildVersionArn=f"{base}:component/hello/{bad}"
        )
        assert response["Error"]["Code"] == "InvalidParameterValueException"


def test_test_only_documents_are_test_components(store_ib):
    arn = create(store_ib, name="tester", data=TEST_ONLY)["componentBuildVersionArn"]
    assert store_ib.get_component(componentBuildVersionArn=arn)["component"]["type"] == "TEST"
    listed = store_ib.list_components(filters=[{"name": "type", "values": ["TEST"]}])
    assert [c["name"] for c in listed["componentVersionList"]] == ["tester"]


def test_pagination_walks_every_version(store_ib):
    ib = store_ib
    made = {
        create(ib, version=f"1.0.{i}")["componentBuildVersionArn"].rsplit("/", 1)[0]
        for i in range(7)
    }
    seen = []
    for page in ib.get_paginator("list_components").paginate(PaginationConfig={"PageSize": 3}):
        assert len(page["componentVersionList"]) <= 3
        seen += [c["arn"] for c in page["componentVersionList"]]
    assert sorted(seen) == sorted(made)
    first = ib.list_components(maxResults=3)
    assert "nextToken" in first
    tampered = first["nextToken"][:-2] + ("00" if not first["nextToken"].endswith("00") else "11")
    assert error_of(ib.list_components, nextToken=tampered)["Error"]["Code"] == (
        "InvalidPaginationTokenException"
    )


def test_duplicate_version_is_refused(store_ib):
    create(store_ib)
    response = error_of(create, store_ib)
    assert response["Error"]["Code"] == "ResourceAlreadyExistsException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_client_token_replays_and_mismatches(store_ib):
    ib = store_ib
    first = create(ib, clientToken="token-1")
    again = create(ib, clientToken="token-1")
    assert again["componentBuildVersionArn"] == first["componentBuildVersionArn"]
    assert len(ib.list_components()["componentVersionList"]) == 1
    response = error_of(create, ib, version="9.9.9", clientToken="token-1")
    assert response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert len(ib.list_components()["componentVersionList"]) == 1


def test_invalid_document_is_refused_with_its_place(store_ib):
    bad = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n"
    response = error_of(create, store_ib, data=bad)
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "action" in response["Error"]["Message"]
    response = error_of(create, store_ib, data="{{ not: [yaml")
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert store_ib.list_components()["componentVersionList"] == []


def test_document_from_the_object_store(store_ib, store_kiln):
    store = store_kiln.objects.for_bucket("component-docs")
    store.create_bucket("component-docs")
    store.put_object("component-docs", "hello/doc.yaml", EXAMPLE.encode())
    created = store_ib.create_component(
        name="uri-doc",
        semanticVersion="1.0.0",
        platform="Linux",
        uri="s3://component-docs/hello/doc.yaml",
    )
    got = store_ib.get_component(componentBuildVersionArn=created["componentBuildVersionArn"])
    assert got["component"]["data"] == EXAMPLE
    for uri, fault in (
        ("s3://component-docs/missing.yaml", "cannot be read"),
        ("s3://no-such-bucket/doc.yaml", "cannot be read"),
        ("https://example.com/doc.yaml", "cannot be read"),
    ):
        response = error_of(
            store_ib.create_component,
            name="uri-doc",
            semanticVersion="2.0.0",
            platform="Linux",
            uri=uri,
        )
        assert response["Error"]["Code"] == "InvalidParameterValueException"
        assert fault in response["Error"]["Message"], response["Error"]["Message"]
    both = error_of(
        store_ib.create_component,
        name="uri-doc",
        semanticVersion="3.0.0",
        platform="Linux",
        uri="s3://component-docs/hello/doc.yaml",
        data=EXAMPLE,
    )
    assert both["Error"]["Code"] == "InvalidParameterCombinationException"


def test_model_validation_errors(endpoint, admin):
    loose = client_for(endpoint, admin, config=Config(parameter_validation=False))
    missing = error_of(loose.create_component, name="x", platform="Linux", data=EXAMPLE)
    assert missing["Error"]["Code"] == "InvalidParameterValueException"
    assert "semanticVersion" in missing["Error"]["Message"]
    both = error_of(
        loose.create_component,
        name="!bad name!",
        semanticVersion="1.0",
        platform="Plan9",
        data=EXAMPLE,
    )
    message = both["Error"]["Message"]
    assert "3 validation errors" in message
    assert "name" in message and "semanticVersion" in message and "platform" in message
    pattern = error_of(loose.get_component, componentBuildVersionArn="arn:nope")
    assert pattern["Error"]["Code"] == "InvalidParameterValueException"
    assert "must match pattern" in pattern["Error"]["Message"]


def test_unknown_arn_is_not_found(ib):
    arn = "arn:aws:imagebuilder:us-east-1:123456789012:component/ghost/1.0.0/1"
    assert error_of(ib.get_component, componentBuildVersionArn=arn)["Error"]["Code"] == (
        "ResourceNotFoundException"
    )
    assert error_of(ib.delete_component, componentBuildVersionArn=arn)["Error"]["Code"] == (
        "ResourceNotFoundException"
    )


def test_unimplemented_operations_say_so(ib):
    """Every Image Builder operation is implemented; an EC2 operation Kiln does not serve
    answers EC2's InvalidAction saying what Kiln's EC2 does serve, and changes nothing."""
    ec2 = sibling_client(ib, "ec2")
    with pytest.raises(ClientError) as caught:
        ec2.describe_vpcs()
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidAction"
    assert "Kiln does not implement DescribeVpcs yet" in error["Message"]
    assert "DescribeImages" in error["Message"] and "nothing was changed" in error["Message"]
