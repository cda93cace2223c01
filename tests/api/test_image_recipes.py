"""Image recipes through an unmodified boto3 client."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

EXAMPLE = (Path(__file__).parents[2] / "examples" / "components" / "hello-kiln.yaml").read_text()
MANAGED = "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x"
TYPED = """
schemaVersion: 1.0
parameters:
  - Count:
      type: integer
  - Verbose:
      type: boolean
      default: false
  - Names:
      type: stringList
      default: a
phases:
  - name: build
    steps:
      - name: Echo
        action: ExecuteBash
        inputs:
          commands: ["echo {{ Count }}"]
"""
WINDOWS = """
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Echo
        action: ExecutePowerShell
        inputs:
          commands: ["Write-Host hi"]
"""


pytestmark = pytest.mark.usefixtures("registered_ami")


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def component(ib, name="hello", version="1.0.0", data=EXAMPLE, platform="Linux", **extra):
    return ib.create_component(
        name=name, semanticVersion=version, platform=platform, data=data, **extra
    )["componentBuildVersionArn"]


def recipe(ib, name="web", version="1.0.0", parent=MANAGED, components=None, **extra):
    if components is not None:
        extra["components"] = components
    return ib.create_image_recipe(name=name, semanticVersion=version, parentImage=parent, **extra)


def test_create_get_list_delete(ib):
    comp = component(ib)
    created = recipe(
        ib,
        name="Web Server",
        components=[{"componentArn": comp, "parameters": [{"name": "Greeting", "value": ["hi"]}]}],
        description="the web tier",
        blockDeviceMappings=[
            {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 20, "volumeType": "gp3"}}
        ],
        workingDirectory="/var/tmp",
        additionalInstanceConfiguration={
            "systemsManagerAgent": {"uninstallAfterBuild": True},
            "userDataOverride": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
        },
        amiTags={"tier": "web"},
        tags={"team": "a"},
    )
    arn = created["imageRecipeArn"]
    assert re.match(r"^arn:aws:imagebuilder:us-east-1:\d{12}:image-recipe/web-server/1\.0\.0$", arn)
    assert created["latestVersionReferences"]["latestMajorVersionArn"].endswith("web-server/1.x.x")

    got = ib.get_image_recipe(imageRecipeArn=arn)["imageRecipe"]
    assert got["arn"] == arn
    assert got["type"] == "AMI"
    assert got["name"] == "Web Server"
    assert got["platform"] == "Linux"
    assert got["version"] == "1.0.0"
    assert re.match(r"^\d{12}$", got["owner"])
    assert got["parentImage"] == MANAGED
    assert got["components"] == [
        {"componentArn": comp, "parameters": [{"name": "Greeting", "value": ["hi"]}]}
    ]
    assert got["blockDeviceMappings"][0]["ebs"] == {"volumeSize": 20, "volumeType": "gp3"}
    assert got["workingDirectory"] == "/var/tmp"
    assert got["additionalInstanceConfiguration"]["systemsManagerAgent"] == {
        "uninstallAfterBuild": True
    }
    assert got["amiTags"] == {"tier": "web"}
    assert got["tags"] == {"team": "a"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", got["dateCreated"])

    listed = ib.list_image_recipes()["imageRecipeSummaryList"]
    assert listed == [
        {
            "arn": arn,
            "name": "Web Server",
            "platform": "Linux",
            "owner": got["owner"],
            "parentImage": MANAGED,
            "dateCreated": got["dateCreated"],
            "tags": {"team": "a"},
        }
    ]
    assert ib.delete_image_recipe(imageRecipeArn=arn)["imageRecipeArn"] == arn
    assert error_of(ib.get_image_recipe, imageRecipeArn=arn)["Code"] == "ResourceNotFoundException"
    assert ib.list_image_recipes()["imageRecipeSummaryList"] == []


def test_wildcards_get_the_latest_version_and_duplicates_are_refused(ib):
    for version in ("1.0.0", "1.2.0", "2.0.0"):
        arn = recipe(ib, version=version)["imageRecipeArn"]
    base = arn.rsplit("/", 1)[0]
    assert ib.get_image_recipe(imageRecipeArn=f"{base}/x.x.x")["imageRecipe"]["version"] == "2.0.0"
    assert ib.get_image_recipe(imageRecipeArn=f"{base}/1.x.x")["imageRecipe"]["version"] == "1.2.0"
    error = error_of(recipe, ib, version="1.2.0")
    assert error["Code"] == "ResourceAlreadyExistsException"
    assert error_of(recipe, ib, version="1.x.x")["Code"] == "InvalidVersionNumberException"
    assert error_of(ib.delete_image_recipe, imageRecipeArn=f"{base}/x.x.x")["Code"] == (
        "InvalidParameterValueException"
    )


def test_parent_image_forms(ib):
    assert recipe(ib, name="ami", parent="ami-0123456789abcdef0")["imageRecipeArn"]
    assert recipe(ib, name="ssm", parent="ssm:/aws/service/debian/12/latest")["imageRecipeArn"]
    assert recipe(
        ib, name="managed", parent="arn:aws:imagebuilder:us-east-1:aws:image/debian-13-x86/x.x.x"
    )
    for bad in ("prod-abc123", "debian:12", "ami-XYZ", "ssm:bad name"):
        assert error_of(recipe, ib, name="bad", parent=bad)["Code"] == (
            "InvalidParameterValueException"
        ), bad
    account = ib.get_image_recipe(
        imageRecipeArn=recipe(ib, name="xxx", parent=MANAGED)["imageRecipeArn"]
    )["imageRecipe"]["owner"]
    missing = f"arn:aws:imagebuilder:us-east-1:{account}:image/nothing/x.x.x"
    error = error_of(recipe, ib, name="own", parent=missing)
    assert error["Code"] == "ResourceNotFoundException" and missing in error["Message"]
    unknown_managed = "arn:aws:imagebuilder:us-east-1:aws:image/windows-2022/x.x.x"
    error = error_of(recipe, ib, name="win", parent=unknown_managed)
    assert error["Code"] == "ResourceNotFoundException" and "debian-12-x86" in error["Message"]
    other_region = "arn:aws:imagebuilder:eu-west-1:aws:image/debian-12-x86/x.x.x"
    assert error_of(recipe, ib, name="far", parent=other_region)["Code"] == (
        "InvalidParameterValueException"
    )


def test_components_resolve_wildcards_and_must_exist(ib):
    component(ib, version="1.0.0")
    latest = component(ib, version="1.1.0")
    wildcard = latest.rsplit("/", 2)[0] + "/x.x.x"
    arn = recipe(ib, components=[{"componentArn": wildcard}])["imageRecipeArn"]
    got = ib.get_image_recipe(imageRecipeArn=arn)["imageRecipe"]
    assert got["components"] == [{"componentArn": wildcard}]
    ghost = latest.rsplit("/", 3)[0] + "/ghost/1.0.0"
    error = error_of(recipe, ib, name="ghosted", components=[{"componentArn": ghost}])
    assert error["Code"] == "ResourceNotFoundException" and ghost in error["Message"]


def test_component_parameters_are_checked(ib):
    typed = component(ib, name="typed", data=TYPED)

    def with_params(*parameters, name="par"):
        configuration = {"componentArn": typed}
        if parameters:
            configuration["parameters"] = list(parameters)
        return recipe(ib, name=name, components=[configuration])

    assert with_params({"name": "Count", "value": ["3"]}, name="okay")["imageRecipeArn"]
    error = error_of(with_params, {"name": "Count", "value": ["3"]}, {"name": "Nope", "value": []})
    assert error["Code"] == "InvalidParameterValueException"
    assert "Nope" in error["Message"] and typed in error["Message"]
    error = error_of(with_params, {"name": "Count", "value": ["three"]})
    assert error["Code"] == "InvalidParameterValueException" and "Count" in error["Message"]
    error = error_of(
        with_params, {"name": "Count", "value": ["1"]}, {"name": "Verbose", "value": ["maybe"]}
    )
    assert "Verbose" in error["Message"]
    error = error_of(with_params, {"name": "Count", "value": ["1", "2"]})
    assert "exactly one value" in error["Message"]
    error = error_of(with_params)
    assert "requires a value" in error["Message"] and "Count" in error["Message"]
    assert with_params(
        {"name": "Count", "value": ["1"]}, {"name": "Names", "value": ["a", "b"]}, name="lists"
    )


def test_components_must_match_the_parent_platform_and_os(ib):
    windows = component(ib, name="win", data=WINDOWS, platform="Windows")
    error = error_of(recipe, ib, components=[{"componentArn": windows}])
    assert error["Code"] == "InvalidParameterValueException" and "Windows" in error["Message"]
    # without a platform from the parent (AMI id), the components decide it
    arn = recipe(
        ib, name="win", parent="ami-0123456789abcdef0", components=[{"componentArn": windows}]
    )
    assert (
        ib.get_image_recipe(imageRecipeArn=arn["imageRecipeArn"])["imageRecipe"]["platform"]
        == "Windows"
    )
    linux = component(ib, name="lin")
    error = error_of(
        recipe,
        ib,
        name="mixed",
        parent="ami-0123456789abcdef0",
        components=[{"componentArn": windows}, {"componentArn": linux}],
    )
    assert error["Code"] == "InvalidParameterValueException"
    ubuntu = component(ib, name="ubu", supportedOsVersions=["Ubuntu"])
    error = error_of(recipe, ib, name="ubu", components=[{"componentArn": ubuntu}])
    assert "Debian 12" in error["Message"]
    debian = component(ib, name="deb", supportedOsVersions=["Debian"])
    assert recipe(ib, name="deb", components=[{"componentArn": debian}])


def test_block_devices_and_user_data_are_checked(ib):
    error = error_of(
        recipe,
        ib,
        blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"throughput": 200}}],
    )
    assert error["Code"] == "InvalidParameterValueException" and "throughput" in error["Message"]
    error = error_of(
        recipe,
        ib,
        blockDeviceMappings=[{"deviceName": "/dev/a"}, {"deviceName": "/dev/a"}],
    )
    assert "/dev/a" in error["Message"]
    error = error_of(
        recipe, ib, additionalInstanceConfiguration={"userDataOverride": "not base64!"}
    )
    assert error["Code"] == "InvalidParameterValueException"
    assert "userDataOverride" in error["Message"]


def test_too_many_components_exceed_the_quota(ib):
    comp = component(ib)
    error = error_of(recipe, ib, components=[{"componentArn": comp}] * 21)
    assert error["Code"] == "ServiceQuotaExceededException"


def test_list_filters_owner_and_pagination(ib):
    made = [recipe(ib, name=f"rec{i}", version="1.0.0")["imageRecipeArn"] for i in range(5)]
    made.append(recipe(ib, name="ami", parent="ami-0123456789abcdef0")["imageRecipeArn"])
    seen = []
    for page in ib.get_paginator("list_image_recipes").paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["imageRecipeSummaryList"]) <= 2
        seen += [r["arn"] for r in page["imageRecipeSummaryList"]]
    assert sorted(seen) == sorted(made)
    by_name = ib.list_image_recipes(filters=[{"name": "name", "values": ["rec1", "rec3"]}])
    assert [r["name"] for r in by_name["imageRecipeSummaryList"]] == ["rec1", "rec3"]
    by_parent = ib.list_image_recipes(
        filters=[{"name": "parentImage", "values": ["ami-0123456789abcdef0"]}]
    )
    assert [r["name"] for r in by_parent["imageRecipeSummaryList"]] == ["ami"]
    windows = ib.list_image_recipes(filters=[{"name": "platform", "values": ["Windows"]}])
    assert windows["imageRecipeSummaryList"] == []
    assert ib.list_image_recipes(owner="Amazon")["imageRecipeSummaryList"] == []
    error = error_of(ib.list_image_recipes, filters=[{"name": "colour", "values": ["red"]}])
    assert error["Code"] == "InvalidParameterValueException"


def test_client_token_replays_and_mismatches(ib):
    first = recipe(ib, clientToken="tok-1")
    again = recipe(ib, clientToken="tok-1")
    assert again["imageRecipeArn"] == first["imageRecipeArn"]
    assert len(ib.list_image_recipes()["imageRecipeSummaryList"]) == 1
    error = error_of(recipe, ib, version="2.0.0", clientToken="tok-1")
    assert error["Code"] == "IdempotentParameterMismatchException"


def test_components_in_use_cannot_be_deleted(ib):
    comp = component(ib)
    arn = recipe(ib, components=[{"componentArn": comp}])["imageRecipeArn"]
    error = error_of(ib.delete_component, componentBuildVersionArn=comp)
    assert error["Code"] == "ResourceDependencyException" and arn in error["Message"]
    ib.delete_image_recipe(imageRecipeArn=arn)
    assert ib.delete_component(componentBuildVersionArn=comp)["componentBuildVersionArn"] == comp


def test_recipe_in_use_cannot_be_deleted(ib, kiln):
    from kiln.store import resources
    from kiln.store.resources import Scope

    arn = recipe(ib)["imageRecipeArn"]
    account = arn.split(":")[4]
    pipeline = f"arn:aws:imagebuilder:us-east-1:{account}:image-pipeline/nightly"
    with kiln.database.transaction() as session:
        resources.add_reference(
            session, Scope(account, "us-east-1"), source_arn=pipeline, target_arn=arn
        )
    error = error_of(ib.delete_image_recipe, imageRecipeArn=arn)
    assert error["Code"] == "ResourceDependencyException" and pipeline in error["Message"]
    assert ib.get_image_recipe(imageRecipeArn=arn)["imageRecipe"]["arn"] == arn
