"""Amazon-managed components: seeded as rows owned by `aws`, read through boto3."""

from __future__ import annotations

from importlib import resources

import pytest
from botocore.exceptions import ClientError

from kiln.core.clock import utcnow
from kiln.services.imagebuilder.managed_components import (
    MANAGED_COMPONENTS,
    ensure_managed_components,
)
from tests.conftest import REGION, client_for

NAMES = ["hello-world-linux", "reboot-linux", "update-linux"]
BASE = f"arn:aws:imagebuilder:{REGION}:aws:component"
PLAIN = """
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: S
        action: ExecuteBash
        inputs:
          commands: ["true"]
"""


def seed(kiln, region=REGION):
    with kiln.database.transaction() as session:
        ensure_managed_components(session, region, utcnow())


def test_managed_components_are_listed_for_amazon_only(kiln, ib):
    seed(kiln)
    listed = ib.list_components(owner="Amazon")["componentVersionList"]
    assert sorted(c["arn"] for c in listed) == [f"{BASE}/{name}/1.0.0" for name in NAMES]
    assert {(c["owner"], c["platform"], c["type"], c["version"]) for c in listed} == {
        ("aws", "Linux", "BUILD", "1.0.0")
    }
    assert ib.list_components()["componentVersionList"] == []  # owner Self


@pytest.mark.parametrize("name", NAMES)
def test_get_by_wildcard_returns_the_shipped_document(kiln, ib, name):
    seed(kiln)
    got = ib.get_component(componentBuildVersionArn=f"{BASE}/{name}/x.x.x")
    component = got["component"]
    assert component["arn"] == f"{BASE}/{name}/1.0.0/1"
    shipped = resources.files("kiln.toe") / "managed" / f"{name}.yaml"
    assert component["data"] == shipped.read_text()
    assert component["state"] == {"status": "ACTIVE"}
    assert got["latestVersionReferences"]["latestVersionArn"] == f"{BASE}/{name}/x.x.x"


def test_seeding_is_idempotent_and_per_region(kiln, ib, endpoint, admin):
    seed(kiln)
    seed(kiln)
    builds = ib.list_component_build_versions(componentVersionArn=f"{BASE}/update-linux/1.0.0")
    assert [s["arn"] for s in builds["componentSummaryList"]] == [f"{BASE}/update-linux/1.0.0/1"]
    assert len(ib.list_components(owner="Amazon")["componentVersionList"]) == len(
        MANAGED_COMPONENTS
    )
    # The server seeds a region the first time a request uses it.
    west = client_for(endpoint, admin, region="us-west-2")
    west_arns = [c["arn"] for c in west.list_components(owner="Amazon")["componentVersionList"]]
    assert "arn:aws:imagebuilder:us-west-2:aws:component/reboot-linux/1.0.0" in west_arns


def test_managed_rows_look_like_created_ones(kiln, ib):
    seed(kiln)
    arn = ib.create_component(
        name="mine", semanticVersion="1.0.0", platform="Linux", data=PLAIN, description="mine"
    )["componentBuildVersionArn"]
    mine = ib.get_component(componentBuildVersionArn=arn)["component"]
    managed = ib.get_component(componentBuildVersionArn=f"{BASE}/reboot-linux/1.0.0/1")
    assert set(managed["component"]) == set(mine)
    assert managed["component"]["description"].startswith("Reboots the instance")


def test_managed_components_cannot_be_deleted(kiln, ib):
    seed(kiln)
    with pytest.raises(ClientError) as caught:
        ib.delete_component(componentBuildVersionArn=f"{BASE}/hello-world-linux/1.0.0/1")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
