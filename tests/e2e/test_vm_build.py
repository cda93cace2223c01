"""Image recipe → AMI AVAILABLE, for real: a QEMU build instance from Kiln's managed Debian 12
base disk (without qemu-guest-agent), a component that writes /etc/kiln-anchor, CreateImage into
Kiln's AMI store, and a test instance booted from the new AMI that checks the anchor.

The output disk is opened afterwards (through a throw-away overlay, so it is never written) to
check the anchor is there and that the guest agent Kiln installed for the build is not."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln import process
from kiln.app import Kiln
from kiln.artifacts.vm_mount import mounted_root, raw_view
from kiln.cli.serving import background_server
from kiln.engine.context import EngineConfig
from kiln.engine.vm_host import QemuBuildHost
from kiln.executors.threads import ThreadExecutor
from kiln.instances.qemu import list_instances, remove_leftovers
from tests.conftest import client_for, make_instance_profile
from tests.unit.engine.conftest import build_registry, wait_for
from tests.vm.conftest import VM_DIR, qemu_ready  # noqa: F401 (fixture)

pytestmark = [pytest.mark.vm, pytest.mark.slow]

PARENT = "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x"
COMPONENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Anchor
        action: ExecuteBash
        inputs:
          commands: ["echo kiln-was-here > /etc/kiln-anchor"]
  - name: validate
    steps:
      - name: AnchorWritten
        action: ExecuteBash
        inputs:
          commands: ["grep -q kiln-was-here /etc/kiln-anchor"]
  - name: test
    steps:
      - name: AnchorThere
        action: ExecuteBash
        inputs:
          commands: ["grep -q kiln-was-here /etc/kiln-anchor"]
"""


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kiln-vmb-", dir="/tmp"))  # unix sockets: short paths
    try:
        yield path
    finally:
        remove_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def built(
    qemu_ready: None,  # noqa: F811
    kiln: Kiln,
    admin: Any,
    runtime_dir: Path,
) -> Iterator[tuple[Any, QemuBuildHost]]:
    host = QemuBuildHost(VM_DIR, runtime_dir, data_dir=kiln.data_dir)
    config = EngineConfig(data_dir=kiln.data_dir)
    kiln.registries["imagebuilder"] = build_registry()
    executor = ThreadExecutor(
        kiln.database, host, config, workers=1, lease=dt.timedelta(seconds=30)
    )
    with background_server(kiln) as url, executor:
        make_instance_profile(url, admin, "builder")
        yield client_for(url, admin), host


def _dpkg_status(disk: Path, work: Path) -> tuple[str, str]:
    """The output disk's dpkg status and /etc/kiln-anchor, read through an overlay."""
    overlay = work / "peek.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(disk), "-F", "qcow2"]
    process.run([*argv, str(overlay)], timeout=60)
    with raw_view(overlay, work / "peek.raw") as raw, mounted_root(raw, work / "root") as root:
        return (
            (root / "var/lib/dpkg/status").read_text(),
            (root / "etc/kiln-anchor").read_text(),
        )


@pytest.mark.timeout(2400)
def test_image_recipe_builds_an_ami_and_tests_it(
    built: tuple[Any, QemuBuildHost], runtime_dir: Path, tmp_path: Path
) -> None:
    ib, host = built
    component = ib.create_component(
        name="vm-anchor", semanticVersion="1.0.0", platform="Linux", data=COMPONENT
    )["componentBuildVersionArn"]
    recipe = ib.create_image_recipe(
        name="vm-anchor", semanticVersion="1.0.0", parentImage=PARENT,
        components=[{"componentArn": component}],
    )["imageRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(
        name="vm-anchor-infra", instanceProfileName="builder", instanceTypes=["t3.small"]
    )["infrastructureConfigurationArn"]
    started = time.monotonic()
    arn = ib.create_image(imageRecipeArn=recipe, infrastructureConfigurationArn=infra)[
        "imageBuildVersionArn"
    ]
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"}, timeout=2300)
    elapsed = time.monotonic() - started
    assert image["state"]["status"] == "AVAILABLE", image["state"]

    (ami,) = image["outputResources"]["amis"]
    assert ami["region"] == "us-east-1"
    assert ami["image"].startswith("ami-") and len(ami["image"]) == 21
    disk = host.amis.root / "us-east-1" / f"{ami['image']}.qcow2"
    assert disk.is_file()
    manifest = json.loads(disk.with_suffix(".json").read_text())
    assert manifest["imageArn"] == arn and manifest["agent"]["removed"] is True

    pages = ib.get_paginator("list_image_packages").paginate(imageBuildVersionArn=arn)
    names = {p["packageName"] for page in pages for p in page["imagePackageList"]}
    assert {"systemd", "linux-image-amd64", "dpkg"} <= names
    assert "qemu-guest-agent" not in names

    status, anchor = _dpkg_status(disk, tmp_path)
    assert anchor.strip() == "kiln-was-here"
    assert "Package: qemu-guest-agent\n" not in status
    assert "Package: systemd\n" in status

    assert not list_instances(runtime_dir)
    print(f"AMI build to AVAILABLE in {elapsed:.1f}s")
