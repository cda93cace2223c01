"""Container recipes through an unmodified boto3 client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

EXAMPLE = (Path(__file__).parents[2] / "examples" / "components" / "hello-kiln.yaml").read_text()
TEMPLATE = (
    "FROM {{{ imagebuilder:parentImage }}}\n"
    "{{{ imagebuilder:environments }}}\n"
    "{{{ imagebuilder:components }}}\n"
    'CMD ["/bin/sh"]\n'
)
REPO = {"service": "ECR", "repositoryName": "team/web"}


pytestmark = pytest.mark.usefixtures("registered_ami")


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def recipe(ib, name="web", version="1.0.0", parent="debian:12", **extra):
    extra.setdefault("dockerfileTemplateData", TEMPLATE)
    extra.setdefault("targetRepository", REPO)
    return ib.create_container_recipe(
        containerType="DOCKER", name=name, semanticVersion=version, parentImage=parent, **extra
    )


def component(ib, name="hello", platform="Linux", **extra):
    return ib.create_component(
        name=name, semanticVersion="1.0.0", platform=platform, data=EXAMPLE, **extra
    )["componentBuildVersionArn"]


def test_create_get_list_delete(ib):
    comp = component(ib)
    created = recipe(
        ib,
        name="Web App",
        description="the web container",
        components=[{"componentArn": comp, "parameters": [{"name": "Greeting", "value": ["yo"]}]}],
        instanceConfiguration={
            "image": "ami-0123456789abcdef0",
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 30}}],
        },
        workingDirectory="/build",
        kmsKeyId="arn:aws:kms:us-east-1:123456789012:key/abc",
        tags={"team": "a"},
    )
    arn = created["containerRecipeArn"]
    assert re.match(
        r"^arn:aws:imagebuilder:us-east-1:\d{12}:container-recipe/web-app/1\.0\.0$", arn
    )
    assert created["latestVersionReferences"]["latestVersionArn"].endswith("web-app/x.x.x")

    got = ib.get_container_recipe(containerRecipeArn=arn)["containerRecipe"]
    assert got["arn"] == arn
    assert got["containerType"] == "DOCKER"
    assert got["name"] == "Web App"
    assert got["platform"] == "Linux"
    assert got["version"] == "1.0.0"
    assert got["parentImage"] == "debian:12"
    assert got["dockerfileTemplateData"] == TEMPLATE
    assert got["targetRepository"] == REPO
    assert got["components"][0]["componentArn"] == comp
    assert got["instanceConfiguration"]["image"] == "ami-0123456789abcdef0"
    assert got["workingDirectory"] == "/build"
    assert got["kmsKeyId"].startswith("arn:aws:kms:")
    assert got["encrypted"] is True
    assert got["tags"] == {"team": "a"}
    assert re.match(r"^\d{12}$", got["owner"])

    listed = ib.list_container_recipes()["containerRecipeSummaryList"]
    assert listed == [
        {
            "arn": arn,
            "containerType": "DOCKER",
            "name": "Web App",
            "platform": "Linux",
            "owner": got["owner"],
            "parentImage": "debian:12",
            "dateCreated": got["dateCreated"],
            "instanceImage": "ami-0123456789abcdef0",
            "tags": {"team": "a"},
        }
    ]
    error = error_of(ib.delete_component, componentBuildVersionArn=comp)
    assert error["Code"] == "ResourceDependencyException"
    assert ib.delete_container_recipe(containerRecipeArn=arn)["containerRecipeArn"] == arn
    error = error_of(ib.get_container_recipe, containerRecipeArn=arn)
    assert error["Code"] == "ResourceNotFoundException"
    ib.delete_component(componentBuildVersionArn=comp)


def test_dockerfile_template_rules(ib):
    error = error_of(recipe, ib, dockerfileTemplateData="FROM {{{ imagebuilder:nope }}}\n")
    assert error["Code"] == "InvalidParameterValueException" and "nope" in error["Message"]
    error = error_of(recipe, ib, dockerfileTemplateData="RUN echo hi\n")
    assert error["Code"] == "InvalidParameterValueException" and "FROM" in error["Message"]
    error = error_of(
        recipe, ib, dockerfileTemplateData=TEMPLATE, dockerfileTemplateUri="s3://b/Dockerfile"
    )
    assert error["Code"] == "InvalidParameterCombinationException"
    uri_only = error_of(
        ib.create_container_recipe,
        containerType="DOCKER",
        name="uri",
        semanticVersion="1.0.0",
        parentImage="debian:12",
        targetRepository=REPO,
        dockerfileTemplateUri="s3://bucket/Dockerfile",
    )
    assert uri_only["Code"] == "InvalidParameterValueException"
    assert "s3://bucket/Dockerfile" in uri_only["Message"]
    neither = error_of(
        ib.create_container_recipe,
        containerType="DOCKER",
        name="none",
        semanticVersion="1.0.0",
        parentImage="debian:12",
        targetRepository=REPO,
    )
    assert neither["Code"] == "InvalidRequestException"
    assert ib.list_container_recipes()["containerRecipeSummaryList"] == []


def test_parent_images_and_repositories(ib):
    parents = (
        "debian:bookworm",
        "registry.example.com:5000/team/base:1.2",
        "alpine@sha256:" + "a" * 64,
    )
    for index, parent in enumerate(parents):
        assert recipe(ib, name=f"parent{index}", parent=parent)
    for bad in ("Not A Ref", "debian:", "ami-0123456789abcdef0:"):
        assert error_of(recipe, ib, name="bad", parent=bad)["Code"] == (
            "InvalidParameterValueException"
        ), bad
    missing = "arn:aws:imagebuilder:us-east-1:123456789012:image/nothing/x.x.x"
    assert error_of(recipe, ib, name="arn", parent=missing)["Code"] == "ResourceNotFoundException"
    bad_repo = {"service": "ECR", "repositoryName": "Upper/Case"}
    error = error_of(recipe, ib, name="repo", targetRepository=bad_repo)
    assert error["Code"] == "InvalidParameterValueException" and "Upper/Case" in error["Message"]


def test_platform_override_and_component_compatibility(ib):
    windows = ib.create_component(
        name="win",
        semanticVersion="1.0.0",
        platform="Windows",
        data="schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n"
        "        action: ExecutePowerShell\n        inputs:\n          commands: [dir]\n",
    )["componentBuildVersionArn"]
    error = error_of(recipe, ib, components=[{"componentArn": windows}])
    assert error["Code"] == "InvalidParameterValueException" and "Windows" in error["Message"]
    arn = recipe(
        ib,
        name="wincontainer",
        parent="mcr.microsoft.com/windows/servercore:ltsc2022",
        platformOverride="Windows",
        components=[{"componentArn": windows}],
    )["containerRecipeArn"]
    got = ib.get_container_recipe(containerRecipeArn=arn)["containerRecipe"]
    assert got["platform"] == "Windows"
    ubuntu = component(ib, name="ubu", supportedOsVersions=["Ubuntu"])
    error = error_of(recipe, ib, name="ubu", components=[{"componentArn": ubuntu}])
    assert "Debian 12" in error["Message"]
    assert recipe(
        ib,
        name="ubu2",
        parent="ubuntu:24.04",
        imageOsVersionOverride="Ubuntu 24",
        components=[{"componentArn": ubuntu}],
    )
    unknown = error_of(
        recipe,
        ib,
        name="params",
        components=[{"componentArn": ubuntu, "parameters": [{"name": "X", "value": ["1"]}]}],
        parent="ubuntu:24.04",
    )
    assert unknown["Code"] == "InvalidParameterValueException" and "'X'" in unknown["Message"]


def test_list_filters_pagination_and_versions(ib):
    made = [recipe(ib, name=f"app{i}")["containerRecipeArn"] for i in range(4)]
    made.append(recipe(ib, name="app0", version="2.0.0")["containerRecipeArn"])
    made.append(recipe(ib, name="other", parent="alpine:3")["containerRecipeArn"])
    seen = []
    paginator = ib.get_paginator("list_container_recipes")
    for page in paginator.paginate(PaginationConfig={"PageSize": 4}):
        seen += [r["arn"] for r in page["containerRecipeSummaryList"]]
    assert sorted(seen) == sorted(made)
    base = made[0].rsplit("/", 1)[0]
    latest = ib.get_container_recipe(containerRecipeArn=f"{base}/x.x.x")["containerRecipe"]
    assert latest["version"] == "2.0.0"
    by_parent = ib.list_container_recipes(
        filters=[{"name": "parentImage", "values": ["alpine:3"]}]
    )["containerRecipeSummaryList"]
    assert [r["name"] for r in by_parent] == ["other"]
    docker = ib.list_container_recipes(
        filters=[
            {"name": "containerType", "values": ["DOCKER"]},
            {"name": "name", "values": ["app1"]},
        ]
    )["containerRecipeSummaryList"]
    assert [r["name"] for r in docker] == ["app1"]
    assert error_of(recipe, ib, name="app1")["Code"] == "ResourceAlreadyExistsException"


def test_client_token_replays_and_mismatches(ib):
    first = recipe(ib, clientToken="tok-1")
    assert recipe(ib, clientToken="tok-1")["containerRecipeArn"] == first["containerRecipeArn"]
    error = error_of(recipe, ib, version="3.0.0", clientToken="tok-1")
    assert error["Code"] == "IdempotentParameterMismatchException"
    assert len(ib.list_container_recipes()["containerRecipeSummaryList"]) == 1
