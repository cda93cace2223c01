"""Issue #7's VM-build acceptance, through the engine and real QEMU VMs (one VM per build: the
test phase is off where the acceptance does not need it).

- A parent that has qemu-guest-agent keeps it: the parent is Kiln's agent flavor of the Debian
  12 base disk, registered as an AMI of the test account; the output disk still has the agent and
  the image's package inventory lists it (the inventory equals the disk's dpkg database).
- A component that asks for a reboot (exit 194) continues after the reboot at the right step:
  the step runs again in the new boot, the next step runs once, after it (same build as above).
- A build whose validate phase fails ends FAILED naming the failing step, and leaves no VM,
  instance directory, AMI disk or AMI row behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kiln import process
from kiln.amis import registry as ami_registry
from kiln.amis.stores import ImageStores
from kiln.app import Kiln
from kiln.artifacts.vm_agent import has_guest_agent
from kiln.artifacts.vm_mount import mounted_root, raw_view
from kiln.artifacts.vmdisk import BaseDisk
from kiln.cli.serving import background_server
from kiln.core.clock import utcnow
from kiln.core.ids import ami_id
from kiln.engine import ledger
from kiln.engine.context import EngineConfig
from kiln.engine.vm_host import QemuBuildHost
from kiln.executors.threads import ThreadExecutor
from kiln.instances.qemu import list_instances, remove_leftovers
from kiln.instances.qemu_agent import QemuCommunicator
from kiln.store.ami_schema import AmiRow
from tests.conftest import client_for, make_instance_profile
from tests.unit.engine.conftest import build_registry
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

    def build(self, name: str, component: str, *, parent: str) -> dict[str, Any]:
        component_arn = self.ib.create_component(
            name=name, semanticVersion="1.0.0", platform="Linux", data=component
        )["componentBuildVersionArn"]
        recipe = self.ib.create_image_recipe(
            name=name, semanticVersion="1.0.0", parentImage=parent,
            components=[{"componentArn": component_arn}],
        )["imageRecipeArn"]  # fmt: skip
        arn = self.ib.create_image(
            imageRecipeArn=recipe,
            infrastructureConfigurationArn=self.infrastructure,
            imageTestsConfiguration=NO_TESTS,
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
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kiln-vma-", dir="/tmp"))  # unix sockets: short paths
    try:
        yield path
    finally:
        remove_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


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
    host = QemuBuildHost(VM_DIR, runtime_dir, data_dir=kiln.data_dir, boot_timeout=BOOT_TIMEOUT)
    config = EngineConfig(data_dir=kiln.data_dir)
    kiln.registries["imagebuilder"] = build_registry()
    executor = ThreadExecutor(
        kiln.database, host, config, workers=1, lease=dt.timedelta(seconds=30)
    )
    with background_server(kiln) as url, executor:
        make_instance_profile(url, admin, "builder")
        ib = client_for(url, admin)
        made = Builder(ib, host, kiln, runtime_dir, admin.account)
        made.infrastructure = ib.create_infrastructure_configuration(
            name="vm-acceptance", instanceProfileName="builder", instanceTypes=["t3.small"]
        )["infrastructureConfigurationArn"]
        yield made


def register_parent_ami(kiln: Kiln, account: str, disk: BaseDisk) -> str:
    """A parent AMI of the test account: Kiln's base disk with qemu-guest-agent baked in."""
    ami = ami_id()
    store = ImageStores.under(kiln.data_dir)
    name = store.relative(REGION, ami)
    target = store.path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(disk.path, target)  # disks are immutable: a hard link is a copy
    except OSError:
        shutil.copyfile(disk.path, target)
    with kiln.database.transaction() as session:
        ami_registry.register(
            session, ami_id=ami, account=account, region=REGION,
            name="debian-12-with-guest-agent", disk=name, size=store.size(name), now=utcnow(),
        )  # fmt: skip
    return ami


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
    return ImageStores.under(builder.kiln.data_dir).path(row.disk)


@pytest.mark.timeout(3600)
def test_a_parent_with_the_agent_keeps_it_and_a_reboot_continues_at_the_right_step(
    builder: Builder,
    agent_disk: BaseDisk,  # noqa: F811
    tmp_path: Path,
) -> None:
    parent = register_parent_ami(builder.kiln, builder.account, agent_disk)
    image = builder.build("vm-reboot-agent", REBOOTING, parent=parent)
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    disk = output_disk(builder, image)

    # The parent had the agent: Kiln installed nothing and removed nothing.
    manifest = json.loads(disk.with_suffix(".json").read_text())
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
