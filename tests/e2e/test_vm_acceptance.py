"""Issue #7's VM-build acceptance, through the engine and real QEMU VMs (one VM per build: the
test phase is off where the acceptance does not need it).

- A parent that has qemu-guest-agent keeps it: the parent is Kiln's agent flavor of the Debian
  12 base disk, registered as an AMI of the test account; the output disk still has the agent and
  the image's package inventory lists it (the inventory equals the disk's dpkg database).
- A component that asks for a reboot (exit 194) continues after the reboot at the right step:
  the step runs again in the new boot, the next step runs once, after it (same build as above).
- The same build's distribution configuration names a launch template of the account (made
  with EC2 CreateLaunchTemplate) with `setDefaultVersion`: the build adds a version whose ImageId
  is the built AMI and makes it the template's default.
- A build whose validate phase fails ends FAILED naming the failing step, and leaves no VM,
  instance directory, AMI disk or AMI row behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kiln import process
from kiln.amis import registry as ami_registry
from kiln.app import Kiln
from kiln.artifacts.vm_agent import has_guest_agent
from kiln.artifacts.vm_mount import mounted_root, raw_view
from kiln.artifacts.vmdisk import BaseDisk
from kiln.core.clock import utcnow
from kiln.core.ids import ami_id
from kiln.engine import ledger
from kiln.engine.context import EngineConfig
from kiln.engine.vm_host import QemuBuildHost, RegisteredAmis
from kiln.instances.qemu import list_instances
from kiln.instances.qemu_agent import QemuCommunicator
from kiln.store.ami_schema import AmiRow
from tests.conftest import sibling_client
from tests.e2e.support import build_client
from tests.vm.conftest import VM_DIR, agent_disk, qemu_ready  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.vm, pytest.mark.slow]

REGION = "us-east-1"
PLAIN_PARENT = f"arn:aws:imagebuilder:{REGION}:aws:image/debian-12-x86/x.x.x"
NO_TESTS = {"imageTestsEnabled": False}
BOOT_TIMEOUT = 1500.0
BOOT_ID = "$(cat /proc/sys/kernel/random/boot_id)"
SEQUENCE = "/var/lib/kiln-e2e/sequence"
MARKER = "/var/lib/kiln-e2e/marker"
REBOOTING = f"""schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: RebootOnce
        action: ExecuteBash
        inputs:
          commands:
            - mkdir -p /var/lib/kiln-e2e
            - echo "RebootOnce {BOOT_ID}" >> {SEQUENCE}
            - if [ ! -f {MARKER} ]; then echo {BOOT_ID} > {MARKER}; sync; exit 194; fi
      - name: AfterReboot
        action: ExecuteBash
        inputs:
          commands:
            - echo "AfterReboot {BOOT_ID}" >> {SEQUENCE}
  - name: validate
    steps:
      - name: NewBoot
        action: ExecuteBash
        inputs:
          commands:
            - test "{BOOT_ID}" != "$(cat {MARKER})"
"""
FAILING_VALIDATE = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: WriteSomething
        action: ExecuteBash
        inputs:
          commands: ["echo built > /etc/kiln-built"]
  - name: validate
    steps:
      - name: ExpectMissingFile
        action: ExecuteBash
        inputs:
          commands: ["test -f /etc/kiln-never-written"]
"""


@dataclass
class Builder:
    ib: Any
    host: QemuBuildHost
    kiln: Kiln
    runtime_dir: Path
    account: str
    infrastructure: str = ""

    def build(
        self, name: str, component: str, *, parent: str, distribution: str | None = None
    ) -> dict[str, Any]:
        component_arn = self.ib.create_component(
            name=name, semanticVersion="1.0.0", platform="Linux", data=component
        )["componentBuildVersionArn"]
        recipe = self.ib.create_image_recipe(
            name=name, semanticVersion="1.0.0", parentImage=parent,
            components=[{"componentArn": component_arn}],
        )["imageRecipeArn"]  # fmt: skip
        distributing = {"distributionConfigurationArn": distribution} if distribution else {}
        arn = self.ib.create_image(
            imageRecipeArn=recipe,
            infrastructureConfigurationArn=self.infrastructure,
            imageTestsConfiguration=NO_TESTS,
            **distributing,
        )["imageBuildVersionArn"]
        return settled(self.ib, arn, timeout=3300)


def settled(ib: Any, arn: str, *, timeout: float) -> dict[str, Any]:
    """The image once its build ended (polled every two seconds: a VM build takes minutes)."""
    deadline = time.monotonic() + timeout
    while True:
        image: dict[str, Any] = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] in ("AVAILABLE", "FAILED", "CANCELLED"):
            return image
        if time.monotonic() > deadline:
            raise AssertionError(f"{arn} still {image['state']} after {timeout}s")
        time.sleep(2)


@pytest.fixture
def builder(
    qemu_ready: None,  # noqa: F811
    kiln: Kiln,
    admin: Any,
    runtime_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Builder]:
    # A shared 2-core TCG host can take many minutes to boot a guest: be patient, not flaky.
    monkeypatch.setattr(QemuCommunicator.reboot, "__defaults__", (BOOT_TIMEOUT,))
    host = QemuBuildHost(
        VM_DIR,
        runtime_dir,
        amis=RegisteredAmis(kiln.database),
        stores=kiln.image_stores,
        boot_timeout=BOOT_TIMEOUT,
    )
    config = EngineConfig(data_dir=kiln.data_dir)
    with build_client(kiln, admin, host, config) as ib:
        made = Builder(ib, host, kiln, runtime_dir, admin.account)
        made.infrastructure = ib.create_infrastructure_configuration(
            name="vm-acceptance", instanceProfileName="builder", instanceTypes=["t3.small"]
        )["infrastructureConfigurationArn"]
        yield made


def register_parent_ami(kiln: Kiln, account: str, disk: BaseDisk) -> str:
    """A parent AMI of the test account: Kiln's base disk with qemu-guest-agent baked in."""
    ami = ami_id()
    stores = kiln.image_stores
    name = stores.relative(REGION, ami)
    stores.for_region(REGION).copy_from(disk.path, name)  # a hard link where it can be
    with kiln.database.transaction() as session:
        ami_registry.register(
            session,
            ami_id=ami,
            account=account,
            region=REGION,
            name="debian-12-with-guest-agent",
            disk=name,
            size=stores.size(name),
            now=utcnow(),
        )
    return ami


@dataclass(frozen=True)
class LaunchTemplate:
    id: str
    distribution: str


def launch_template_of(builder: Builder, ec2: Any, parent: str) -> LaunchTemplate:
    """An EC2 launch template of the account (version 1 launches `parent`) and a distribution
    configuration whose build region sets the built AMI as the template's new default."""
    created = ec2.create_launch_template(
        LaunchTemplateName="vm-acceptance",
        LaunchTemplateData={"ImageId": parent, "InstanceType": "t3.small"},
    )["LaunchTemplate"]
    assert created["DefaultVersionNumber"] == 1
    template_id = created["LaunchTemplateId"]
    configuration = {"launchTemplateId": template_id, "setDefaultVersion": True}
    distribution = builder.ib.create_distribution_configuration(
        name="vm-acceptance",
        distributions=[{"region": REGION, "launchTemplateConfigurations": [configuration]}],
    )["distributionConfigurationArn"]
    return LaunchTemplate(template_id, distribution)


def build_manifest(builder: Builder, ami: str) -> dict[str, Any]:
    """What the build recorded about the AMI: its registry row's manifest (the capture's facts)."""
    with builder.kiln.database.transaction() as session:
        row = ami_registry.get(session, ami)
    assert row is not None
    assert "agent" in row.manifest, row.manifest
    return dict(row.manifest)


@dataclass(frozen=True)
class DiskView:
    installed: set[str]
    agent: bool
    files: dict[str, str]


def read_disk(disk: Path, work: Path, *paths: str) -> DiskView:
    """The output disk's installed packages, agent binary and some files, read offline through
    a throw-away overlay (the AMI's disk is never written)."""
    overlay = work / "peek.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(disk), "-F", "qcow2"]
    process.run([*argv, str(overlay)], timeout=60)
    try:
        with raw_view(overlay, work / "peek.raw") as raw, mounted_root(raw, work / "root") as root:
            status = (root / "var/lib/dpkg/status").read_text()
            files = {
                path: (root / path.lstrip("/")).read_text()
                for path in paths
                if (root / path.lstrip("/")).is_file()
            }
            return DiskView(installed_packages(status), has_guest_agent(root), files)
    finally:
        overlay.unlink(missing_ok=True)


def installed_packages(status: str) -> set[str]:
    installed = set()
    for stanza in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Status") == "install ok installed":
            installed.add(fields["Package"])
    return installed


def inventory(ib: Any, arn: str) -> set[str]:
    pages = ib.get_paginator("list_image_packages").paginate(imageBuildVersionArn=arn)
    return {p["packageName"] for page in pages for p in page["imagePackageList"]}


def output_disk(builder: Builder, image: dict[str, Any]) -> Path:
    (ami,) = image["outputResources"]["amis"]
    with builder.kiln.database.transaction() as session:
        row = ami_registry.get(session, ami["image"])
    assert row is not None and row.image_arn == image["arn"]
    return builder.kiln.image_stores.path(row.disk)


@pytest.mark.timeout(3600)
def test_a_parent_with_the_agent_keeps_it_and_a_reboot_continues_at_the_right_step(
    builder: Builder,
    agent_disk: BaseDisk,  # noqa: F811
    tmp_path: Path,
) -> None:
    parent = register_parent_ami(builder.kiln, builder.account, agent_disk)
    ec2 = sibling_client(builder.ib, "ec2")
    template = launch_template_of(builder, ec2, parent)
    image = builder.build(
        "vm-reboot-agent", REBOOTING, parent=parent, distribution=template.distribution
    )
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    disk = output_disk(builder, image)
    (built,) = image["outputResources"]["amis"]

    # The distribution put the built AMI into a new default version of the launch template,
    # based on the previous default.
    (described,) = ec2.describe_launch_templates(LaunchTemplateIds=[template.id])["LaunchTemplates"]
    assert (described["DefaultVersionNumber"], described["LatestVersionNumber"]) == (2, 2)
    (default,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=template.id, Versions=["$Default"]
    )["LaunchTemplateVersions"]
    assert (default["VersionNumber"], default["DefaultVersion"]) == (2, True)
    assert default["LaunchTemplateData"]["ImageId"] == built["image"] != parent
    assert default["LaunchTemplateData"]["InstanceType"] == "t3.small"
    (first,) = ec2.describe_launch_template_versions(LaunchTemplateId=template.id, Versions=["1"])[
        "LaunchTemplateVersions"
    ]
    assert (first["LaunchTemplateData"]["ImageId"], first["DefaultVersion"]) == (parent, False)

    # The parent had the agent: Kiln installed nothing and removed nothing.
    manifest = build_manifest(builder, built["image"])
    assert manifest["agent"] == {"installedByKiln": [], "removed": False}, manifest
    view = read_disk(disk, tmp_path, SEQUENCE, MARKER)
    assert view.agent, "the output image lost the parent's qemu-guest-agent"
    assert "qemu-guest-agent" in view.installed
    listed = inventory(builder.ib, image["arn"])
    assert "qemu-guest-agent" in listed
    assert listed == view.installed  # the inventory is the output image's, package for package

    # exit 194: reboot, run RebootOnce again in the new boot, then AfterReboot once.
    steps = [line.split() for line in view.files[SEQUENCE].splitlines()]
    assert [name for name, _ in steps] == ["RebootOnce", "RebootOnce", "AfterReboot"], steps
    first, second, after = (boot for _, boot in steps)
    assert first == view.files[MARKER].strip()
    assert first != second, "RebootOnce ran twice in the same boot: no reboot happened"
    assert second == after, "AfterReboot did not run in the boot after the reboot"

    assert not list_instances(builder.runtime_dir)


@pytest.mark.timeout(1800)
def test_a_failing_validate_step_fails_the_build_by_name_and_leaves_nothing(
    builder: Builder,
) -> None:
    image = builder.build("vm-fails-validate", FAILING_VALIDATE, parent=PLAIN_PARENT)
    state = image["state"]
    assert state["status"] == "FAILED", state
    assert "validate" in state["reason"] and "ExpectMissingFile" in state["reason"], state
    assert not (image.get("outputResources") or {}).get("amis")

    arn = image["arn"]
    assert not list_instances(builder.runtime_dir), "a build instance was left behind"
    assert not any(builder.runtime_dir.glob("i-*"))
    assert not _qemu_processes(builder.runtime_dir)
    disks = builder.kiln.data_dir / "amis"
    assert not list(disks.rglob("*ami-*")), "an AMI disk (or a partial one) was left"
    with builder.kiln.database.transaction() as session:
        assert not session.scalars(select(AmiRow).where(AmiRow.image_arn == arn)).all()
        assert ledger.outstanding(session, arn) == []
    assert not _mounts_under(builder.runtime_dir)


def _qemu_processes(runtime_dir: Path) -> list[int]:
    """Live QEMU processes whose command line names this runtime directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu" in cmdline and str(runtime_dir).encode() in cmdline:
            found.append(int(proc.name))
    return found


def _mounts_under(path: Path) -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines() if str(path) in line]
