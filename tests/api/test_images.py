"""Image records (written as the build engine writes them) through an unmodified boto3 client."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from kiln.store import resources
from kiln.store.resources import Scope
from tests.api import factories

OTHER = "210987654321"


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def test_build_numbers_and_get(ib, kiln):
    first = factories.add_image(kiln, name="Web Server", tags={"team": "a"})
    second = factories.add_image(kiln, name="Web Server")
    assert first.endswith(":image/web-server/1.0.0/1")
    assert second.endswith(":image/web-server/1.0.0/2")
    got = ib.get_image(imageBuildVersionArn=first)
    image = got["image"]
    assert image["arn"] == first
    assert image["name"] == "Web Server"
    assert image["state"] == {"status": "AVAILABLE"}
    assert image["buildType"] == "USER_INITIATED"
    assert image["tags"] == {"team": "a"}
    assert got["latestVersionReferences"]["latestVersionArn"].endswith("image/web-server/x.x.x")
    version_arn = first.rsplit("/", 1)[0]
    assert ib.get_image(imageBuildVersionArn=version_arn)["image"]["arn"] == second
    wildcard = first.rsplit("/", 2)[0] + "/1.x.x"
    assert ib.get_image(imageBuildVersionArn=wildcard)["image"]["arn"] == second
    ghost = first.replace("web-server", "ghost")
    assert error_of(ib.get_image, imageBuildVersionArn=ghost)["Code"] == (
        "ResourceNotFoundException"
    )


def test_build_numbers_are_never_reused(ib, kiln):
    first = factories.add_image(kiln)
    ib.delete_image(imageBuildVersionArn=first)
    assert factories.add_image(kiln).endswith("/1.0.0/2")


def test_list_images_one_entry_per_version(ib, kiln):
    factories.add_image(kiln, version="1.0.0")
    factories.add_image(kiln, version="1.0.0")
    factories.add_image(kiln, version="1.1.0", platform="Windows", osVersion="Windows 2022")
    factories.add_image(kiln, name="old", status="DEPRECATED")
    factories.add_image(kiln, name="box", type="DOCKER")
    listed = ib.list_images()["imageVersionList"]
    assert [(i["name"], i["version"]) for i in listed] == [
        ("box", "1.0.0"),
        ("web", "1.0.0"),
        ("web", "1.1.0"),
    ]
    assert all(i["arn"].count("/") == 2 for i in listed)  # version ARNs
    with_old = ib.list_images(includeDeprecated=True)["imageVersionList"]
    assert "old" in {i["name"] for i in with_old}
    windows = ib.list_images(filters=[{"name": "platform", "values": ["Windows"]}])
    assert [i["version"] for i in windows["imageVersionList"]] == ["1.1.0"]
    docker = ib.list_images(filters=[{"name": "type", "values": ["DOCKER"]}])
    assert [i["name"] for i in docker["imageVersionList"]] == ["box"]
    os_version = ib.list_images(filters=[{"name": "osVersion", "values": ["Windows 2022"]}])
    assert len(os_version["imageVersionList"]) == 1
    by_name = ib.list_images(byName=True, filters=[{"name": "name", "values": ["web"]}])
    assert {i["name"] for i in by_name["imageVersionList"]} == {"web"}
    assert error_of(ib.list_images, byName=True)["Code"] == "InvalidParameterValueException"
    assert ib.list_images(owner="Amazon")["imageVersionList"] == []
    first = ib.list_images(maxResults=2)
    rest = ib.list_images(nextToken=first["nextToken"])
    assert len(first["imageVersionList"]) == 2 and len(rest["imageVersionList"]) == 1


def test_list_build_versions(ib, kiln):
    arns = [factories.add_image(kiln) for _ in range(4)]
    factories.add_image(kiln, version="2.0.0")
    version_arn = arns[0].rsplit("/", 1)[0]
    seen = []
    pages = ib.get_paginator("list_image_build_versions").paginate(
        imageVersionArn=version_arn, PaginationConfig={"PageSize": 3}
    )
    for page in pages:
        seen += [s["arn"] for s in page["imageSummaryList"]]
        assert all(s["state"]["status"] == "AVAILABLE" for s in page["imageSummaryList"])
    assert seen == arns
    none = ib.list_image_build_versions(
        imageVersionArn=version_arn, filters=[{"name": "platform", "values": ["Windows"]}]
    )
    assert none["imageSummaryList"] == []


def test_delete_rules(ib, kiln):
    building = factories.add_image(kiln, status="BUILDING")
    error = error_of(ib.delete_image, imageBuildVersionArn=building)
    assert error["Code"] == "ResourceDependencyException" and "BUILDING" in error["Message"]

    shared = factories.add_image(kiln, name="shared")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [OTHER]},
                "Action": ["imagebuilder:GetImage"],
                "Resource": shared,
            }
        ],
    }
    ib.put_image_policy(imageArn=shared, policy=json.dumps(policy))
    error = error_of(ib.delete_image, imageBuildVersionArn=shared)
    assert error["Code"] == "ResourceDependencyException" and OTHER in error["Message"]
    policy["Statement"][0]["Principal"] = {"AWS": kiln.default_account}
    ib.put_image_policy(imageArn=shared, policy=json.dumps(policy))
    assert ib.delete_image(imageBuildVersionArn=shared)["imageBuildVersionArn"] == shared

    parent = factories.add_image(kiln, name="parent")
    user = f"arn:aws:imagebuilder:us-east-1:{kiln.default_account}:image-recipe/child/1.0.0"
    with kiln.database.transaction() as session:
        scope = Scope(kiln.default_account, "us-east-1")
        resources.add_reference(session, scope, source_arn=user, target_arn=parent)
    error = error_of(ib.delete_image, imageBuildVersionArn=parent)
    assert error["Code"] == "ResourceDependencyException" and user in error["Message"]

    ghost = parent.replace("/parent/", "/ghost/")
    assert error_of(ib.delete_image, imageBuildVersionArn=ghost)["Code"] == (
        "ResourceNotFoundException"
    )


def test_images_shared_by_another_account(ib, kiln):
    factories.add_account(kiln, OTHER)
    theirs = factories.add_image(kiln, name="theirs", account=OTHER)
    hidden = error_of(ib.get_image, imageBuildVersionArn=theirs)["Code"]
    assert hidden in ("ResourceNotFoundException", "AccessDeniedException")
    assert ib.list_images(owner="Shared")["imageVersionList"] == []
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{kiln.default_account}:root"},
                "Action": ["imagebuilder:GetImage", "imagebuilder:ListImages"],
                "Resource": theirs,
            }
        ],
    }
    with kiln.database.transaction() as session:
        resources.by_arn(session, theirs).policy = json.dumps(policy)
    assert ib.get_image(imageBuildVersionArn=theirs)["image"]["arn"] == theirs
    assert [i["name"] for i in ib.list_images(owner="Shared")["imageVersionList"]] == ["theirs"]
    assert ib.list_images()["imageVersionList"] == []
    error = error_of(ib.delete_image, imageBuildVersionArn=theirs)
    assert error["Code"] in ("AccessDeniedException", "InvalidParameterValueException")
