"""CollectImageScanFindings in builds driven through the API (FakeBuildHost, advisories faked
at the port): scanState, findings through ListImageScanFindings, and failures that leave the
build AVAILABLE."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.cli.serving import background_server
from kiln.engine.context import EngineConfig
from kiln.engine.fakes import FakeBuildHost, FakeInstance
from kiln.executors.threads import ThreadExecutor
from kiln.toe.fake import Scripted
from tests.conftest import client_for, make_instance_profile
from tests.unit.engine.conftest import build_registry, container_recipe, wait_for
from tests.unit.scan.fakes import FakeAdvisories, update

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n'
DPKG = (
    b"ii \tcurl\t7.88.1-10+deb12u5\tamd64\tcurl\t7.88.1-10+deb12u5\n"
    b"ii \tqemu-guest-agent\t1:7.2\tamd64\tqemu\t1:7.2\n"
)
CURL_LOG = (
    "curl (7.88.1-10+deb12u9) bookworm-security; urgency=high\n\n"
    "  * Fix CVE-2025-0001.\n  * Fix CVE-2025-0002.\n\n"
    " -- T <t@example.org>  Mon, 03 Feb 2025 10:00:00 +0000\n"
)
PARENT = "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x"


class ScannableHost(FakeBuildHost):
    """Instances answer the scanner's commands like a Debian 12 system would."""

    os_release: bytes = OS_RELEASE

    def launch(self, *, image: str, instance_type: str, labels: Mapping[str, str]) -> FakeInstance:
        instance = super().launch(image=image, instance_type=instance_type, labels=labels)
        instance.comm.on(["cat", "/etc/os-release"], Scripted(output=self.os_release))
        instance.comm.on(["dpkg", "--print-architecture"], Scripted(output=b"amd64\n"))
        instance.comm.on(["dpkg-query"], Scripted(output=DPKG))
        instance.agent_packages = ("qemu-guest-agent",)  # type: ignore[attr-defined]
        return instance


@pytest.fixture
def advisories() -> FakeAdvisories:
    return FakeAdvisories(
        known={"curl": update("curl", "7.88.1-10+deb12u9", "curl", "libcurl4")},
        changelogs={"curl": CURL_LOG},
    )


@pytest.fixture
def host() -> ScannableHost:
    return ScannableHost()


@pytest.fixture
def ib(kiln: Kiln, admin: Any, host: ScannableHost, advisories: FakeAdvisories) -> Iterator[Any]:
    kiln.registries["imagebuilder"] = build_registry()
    config = EngineConfig(data_dir=kiln.data_dir, poll_interval=0.05, advisories=advisories)
    executor = ThreadExecutor(
        kiln.database, host, config, workers=1, lease=dt.timedelta(seconds=2), idle_wait=0.05
    )
    with background_server(kiln) as url, executor:
        make_instance_profile(url, admin, "builder")
        yield client_for(url, admin)


def _scan_step(ib: Any, arn: str) -> dict[str, Any]:
    for execution in ib.list_workflow_executions(imageBuildVersionArn=arn)["workflowExecutions"]:
        if execution["type"] != "TEST":
            continue
        steps = ib.list_workflow_step_executions(
            workflowExecutionId=execution["workflowExecutionId"]
        )["steps"]
        return next(s for s in steps if s["name"] == "CollectImageScanFindings")
    raise AssertionError("no TEST workflow ran")


def _build(ib: Any, *, scanning: bool, name: str = "app") -> str:
    made = container_recipe(ib, name=name)
    return ib.create_image(
        containerRecipeArn=made["recipe"],
        infrastructureConfigurationArn=made["infra"],
        imageScanningConfiguration={"imageScanningEnabled": scanning},
    )["imageBuildVersionArn"]


def test_a_scanned_container_build_completes_its_scan_and_lists_findings(ib: Any) -> None:
    arn = _build(ib, scanning=True)
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["scanState"] == {"status": "COMPLETED"}
    step = _scan_step(ib, arn)
    assert step["status"] == "COMPLETED"
    assert "2 findings in 1 packages of Debian bookworm" in step["outputs"]
    findings = ib.list_image_scan_findings(
        filters=[{"name": "imageBuildVersionArn", "values": [arn]}]
    )["findings"]
    assert sorted(f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in findings) == [
        "CVE-2025-0001",
        "CVE-2025-0002",
    ]
    assert {f["severity"] for f in findings} == {"HIGH"}
    (package,) = findings[0]["packageVulnerabilityDetails"]["vulnerablePackages"]
    assert package["name"] == "curl"  # the Kiln-installed guest agent is not the image's


def test_scanning_disabled_skips_the_step(ib: Any, advisories: FakeAdvisories) -> None:
    arn = _build(ib, scanning=False)
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert "scanState" not in image
    assert _scan_step(ib, arn)["status"] == "SKIPPED"
    assert advisories.asked == []
    assert ib.list_image_scan_findings()["findings"] == []


def test_an_unreachable_archive_fails_the_scan_not_the_build(
    ib: Any, advisories: FakeAdvisories
) -> None:
    advisories.unreachable = "http://mirror/debian-security cannot be reached: refused"
    arn = _build(ib, scanning=True)
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["scanState"]["status"] == "FAILED"
    assert "cannot be reached" in image["scanState"]["reason"]
    step = _scan_step(ib, arn)
    assert step["status"] == "FAILED" and "cannot be reached" in step["message"]


def test_a_non_debian_image_fails_the_scan_with_the_reason(ib: Any, host: ScannableHost) -> None:
    host.os_release = b'PRETTY_NAME="Alpine Linux v3.20"\nID=alpine\n'
    arn = _build(ib, scanning=True)
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["scanState"]["status"] == "FAILED"
    assert "Alpine Linux v3.20" in image["scanState"]["reason"]


def test_an_ami_build_is_scanned_through_test_image(ib: Any) -> None:
    component = ib.create_component(
        name="vm-noop", semanticVersion="1.0.0", platform="Linux",
        data="schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: N\n"
        "        action: ExecuteBash\n        inputs:\n          commands: [\"true\"]\n",
    )["componentBuildVersionArn"]  # fmt: skip
    recipe = ib.create_image_recipe(
        name="vmapp", semanticVersion="1.0.0", parentImage=PARENT,
        components=[{"componentArn": component}],
    )["imageRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(name="vm-infra", instanceProfileName="builder")[
        "infrastructureConfigurationArn"
    ]
    arn = ib.create_image(
        imageRecipeArn=recipe, infrastructureConfigurationArn=infra,
        imageScanningConfiguration={"imageScanningEnabled": True},
    )["imageBuildVersionArn"]  # fmt: skip
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["scanState"] == {"status": "COMPLETED"}
    assert len(ib.list_image_scan_findings()["findings"]) == 2


def test_a_retried_build_rescans_and_keeps_first_observed_at(ib: Any, host: ScannableHost) -> None:
    host.script(["bash"], 1, image="localhost/kiln/build/app:1.0.0-1")  # the tests fail
    arn = _build(ib, scanning=True)
    assert wait_for(ib, arn, {"AVAILABLE", "FAILED"})["state"]["status"] == "FAILED"
    (first, _) = sorted(
        ib.list_image_scan_findings()["findings"],
        key=lambda f: f["packageVulnerabilityDetails"]["vulnerabilityId"],
    )
    host.scripts.clear()
    ib.retry_image(imageBuildVersionArn=arn, clientToken="retry-1")
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    findings = ib.list_image_scan_findings()["findings"]
    assert len(findings) == 2  # replaced, not added to
    again = next(
        f
        for f in findings
        if f["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2025-0001"
    )
    assert again["firstObservedAt"] == first["firstObservedAt"]
    assert again["updatedAt"] > first["updatedAt"]
