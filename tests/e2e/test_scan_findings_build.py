"""A container build with image scanning, for real: podman instances from Kiln's managed
Debian 12 base, a component that installs a package at the version bookworm (main) ships
although -security has superseded it (found in the mirror's indices at test time), and the
test workflow's CollectImageScanFindings matching the test instance against the real
bookworm-security archive."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import ensure_debian_image
from kiln.cli.serving import background_server
from kiln.engine.context import EngineConfig
from kiln.engine.podman_host import PodmanBuildHost
from kiln.executors.threads import ThreadExecutor
from kiln.instances.podman import podman_unavailable_reason
from kiln.scan import DebianSecurityArchive
from tests.conftest import client_for, make_instance_profile
from tests.integration.test_debian_security import (
    ARCH,
    CODENAME,
    Superseded,
    host_mirror,
    superseded_packages,
)
from tests.unit.engine.conftest import build_registry, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.slow]

STATE_DIR = Path(
    os.environ.get("KILN_TEST_STATE_DIR", Path.home() / ".cache" / "kiln-test" / "containers")
)
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


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def storage() -> ContainerStorage:
    storage = ContainerStorage.at(STATE_DIR)
    reason = podman_unavailable_reason(storage)
    if reason:
        _skip_or_fail(f"podman build instances unavailable: {reason}")
    ensure_debian_image(storage, "12")  # cached after the first run on a machine
    return storage


@pytest.fixture(scope="module")
def superseded(tmp_path_factory: pytest.TempPathFactory) -> Superseded:
    mirror = host_mirror()
    assert mirror.security is not None
    archive = DebianSecurityArchive(mirror.security, tmp_path_factory.mktemp("scan-cache"))
    candidates = superseded_packages(mirror, archive.updates(CODENAME, ARCH))
    if not candidates:
        pytest.fail("bookworm main ships no package that -security has superseded")
    return candidates[0]


@pytest.fixture
def ib(kiln: Kiln, admin: Any, storage: ContainerStorage) -> Iterator[Any]:
    host = PodmanBuildHost(storage)
    config = EngineConfig(data_dir=kiln.data_dir)
    kiln.registries["imagebuilder"] = build_registry()
    executor = ThreadExecutor(
        kiln.database, host, config, workers=1, lease=dt.timedelta(seconds=30)
    )
    with background_server(kiln) as url, executor:
        make_instance_profile(url, admin, "builder")
        yield client_for(url, admin)


def _dpkg_older(a: str, b: str) -> bool:
    if shutil.which("dpkg") is None:
        _skip_or_fail("dpkg is not installed")
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
