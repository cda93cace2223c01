"""A container build with image scanning, for real: podman instances from Kiln's managed
Debian 12 base, a component that installs a package at the version bookworm (main) ships
although -security has superseded it (found in the mirror's indices at test time), and the
test workflow's CollectImageScanFindings matching the test instance against the real
bookworm-security archive."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.engine.context import EngineConfig
from kiln.engine.podman_host import PodmanBuildHost
from kiln.scan import DebianSecurityArchive
from tests.e2e.support import build_client, skip_or_fail
from tests.integration.test_debian_security import (
    ARCH,
    CODENAME,
    Superseded,
    first_with_cves,
    host_mirror,
    superseded_packages,
)
from tests.unit.engine.conftest import wait_for

pytestmark = [pytest.mark.podman, pytest.mark.slow]

COMPONENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: InstallSuperseded
        action: ExecuteBash
        inputs:
          commands:
            - apt-get update -qq
            - >-
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
              --allow-downgrades '{{ Package }}={{ Version }}'
            - dpkg-query --show '{{ Package }}'
  - name: test
    steps:
      - name: StillThere
        action: ExecuteBash
        inputs:
          commands: ["dpkg-query --show '{{ Package }}'"]
parameters:
  - Package:
      type: string
  - Version:
      type: string
"""


@pytest.fixture(scope="module")
def superseded(tmp_path_factory: pytest.TempPathFactory) -> Superseded:
    mirror = host_mirror()
    assert mirror.security is not None
    archive = DebianSecurityArchive(mirror.security, tmp_path_factory.mktemp("scan-cache"))
    updates = archive.updates(CODENAME, ARCH)
    candidates = superseded_packages(mirror, updates)
    if not candidates:
        pytest.fail("bookworm main ships no package that -security has superseded")
    return first_with_cves(archive, updates, candidates)


@pytest.fixture
def ib(kiln: Kiln, admin: Any, storage: ContainerStorage) -> Iterator[Any]:
    config = EngineConfig(data_dir=kiln.data_dir)
    with build_client(kiln, admin, PodmanBuildHost(storage), config) as client:
        yield client


def _dpkg_older(a: str, b: str) -> bool:
    if shutil.which("dpkg") is None:
        skip_or_fail("dpkg is not installed")
    done = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False, timeout=10)
    return done.returncode == 0


def test_a_scanned_container_build_finds_the_superseded_package(
    ib: Any, superseded: Superseded
) -> None:
    component = ib.create_component(
        name="superseded", semanticVersion="1.0.0", platform="Linux", data=COMPONENT
    )["componentBuildVersionArn"]
    recipe = ib.create_container_recipe(
        name="scanned", semanticVersion="1.0.0", containerType="DOCKER", parentImage="debian:12",
        components=[{
            "componentArn": component,
            "parameters": [
                {"name": "Package", "value": [superseded.name]},
                {"name": "Version", "value": [superseded.version]},
            ],
        }],
        dockerfileTemplateData=(
            "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:components }}}\n"
        ),
        targetRepository={"service": "ECR", "repositoryName": "kiln/scanned"},
    )["containerRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(
        name="scanned-infra", instanceProfileName="builder"
    )["infrastructureConfigurationArn"]
    arn = ib.create_image(
        containerRecipeArn=recipe, infrastructureConfigurationArn=infra,
        imageScanningConfiguration={"imageScanningEnabled": True},
    )["imageBuildVersionArn"]  # fmt: skip
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"}, timeout=1200)
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["scanState"] == {"status": "COMPLETED"}, image["scanState"]

    findings: list[dict[str, Any]] = []
    for page in ib.get_paginator("list_image_scan_findings").paginate(
        filters=[{"name": "imageBuildVersionArn", "values": [arn]}]
    ):
        findings += page["findings"]
    ours = [
        f
        for f in findings
        if any(
            p["name"] == superseded.name
            for p in f["packageVulnerabilityDetails"]["vulnerablePackages"]
        )
    ]
    assert ours, (superseded, [f["title"] for f in findings][:20])
    for found in ours:
        assert found["imageBuildVersionArn"] == arn and found["fixAvailable"] == "YES"
        details = found["packageVulnerabilityDetails"]
        package = next(p for p in details["vulnerablePackages"] if p["name"] == superseded.name)
        release = f"-{package['release']}" if "release" in package else ""
        installed = f"{package['epoch']}:{package['version']}{release}"
        fixed = package["fixedInVersion"]
        assert _dpkg_older(installed, fixed), (installed, fixed)
        assert details["sourceUrl"].startswith("https://security-tracker.debian.org/tracker/")
    assert any(f["packageVulnerabilityDetails"]["vulnerabilityId"].startswith("CVE-") for f in ours)
    aggregation = ib.list_image_scan_finding_aggregations(
        filter={"name": "imageBuildVersionArn", "values": [arn]}
    )["responses"]
    assert aggregation[0]["imageAggregation"]["severityCounts"]["all"] == len(findings)
