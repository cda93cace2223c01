"""`kiln serve` killed with SIGKILL in the middle of an AMI build (its build VM running), then
started again on the same data directory: the build is FAILED with a reason saying Kiln stopped,
and nothing of it is left: no QEMU process of that data directory (QEMU daemonizes, so it
outlives the killed server), no instance directory (overlay, sockets, owner lock), no mount, no
held work item, no outstanding ledger entry, no AMI."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kiln.app import Kiln, vm_runtime_dir
from kiln.engine import ledger
from kiln.engine.queue import WorkState
from kiln.settings import Settings
from kiln.store.ami_schema import AmiRow
from kiln.store.engine_schema import WorkItemRow
from tests.conftest import client_for, make_instance_profile
from tests.e2e.support import PROMPT, Server, server_process, wait_until
from tests.vm.conftest import VM_DIR, plain_disk, qemu_ready  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.vm, pytest.mark.slow]

PARENT = "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x"
SLEEPER = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Nap
        action: ExecuteBash
        inputs:
          commands: ["touch /napping", "sleep 1800"]
"""


@pytest.fixture
def server(tmp_path: Path, plain_disk: Any) -> Iterator[Server]:  # noqa: F811
    # the cached base disks and agent debs are linked in
    with server_process(tmp_path, vm_disks=VM_DIR) as made:
        yield made


def qemu_processes(runtime: Path) -> list[int]:
    """Live QEMU processes whose command line names this data directory's runtime folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"qemu-system" in cmdline and str(runtime).encode() in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


@pytest.mark.timeout(1800)
def test_an_ami_build_interrupted_by_sigkill_fails_on_restart_and_leaves_nothing(
    server: Server,
) -> None:
    kiln = Kiln(Settings.load(environ={}, data_dir=server.data_dir))
    admin = kiln.admin_credentials()
    kiln.close()
    runtime = vm_runtime_dir(server.data_dir.resolve())
    url = server.start()
    make_instance_profile(url, admin, "builder")
    ib = client_for(url, admin)
    component = ib.create_component(
        name="vm-sleeper", semanticVersion="1.0.0", platform="Linux", data=SLEEPER
    )["componentBuildVersionArn"]
    recipe = ib.create_image_recipe(
        name="vm-sleepy", semanticVersion="1.0.0", parentImage=PARENT,
        components=[{"componentArn": component}],
    )["imageRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(
        name="vm-sleepy-infra", instanceProfileName="builder", instanceTypes=["t3.small"]
    )["infrastructureConfigurationArn"]
    arn = ib.create_image(
        imageRecipeArn=recipe,
        infrastructureConfigurationArn=infra,
        imageTestsConfiguration={"imageTestsEnabled": False},
    )["imageBuildVersionArn"]

    # Mid-build: the build VM is running (booting, or already running the Nap step).
    wait_until(lambda: qemu_processes(runtime), "the build VM running", 900)
    (instance,) = list(runtime.glob("i-*"))
    time.sleep(5)
    assert (instance / "overlay.qcow2").is_file() and (instance / "owner.lock").is_file()
    assert qemu_processes(runtime)

    server.kill()
    assert qemu_processes(runtime), "QEMU should outlive the killed server (it daemonizes)"
    assert instance.is_dir()

    restarted = time.monotonic()
    ib = client_for(server.start(), admin)
    image = wait_until(
        lambda: (
            (got := ib.get_image(imageBuildVersionArn=arn)["image"])["state"]["status"] == "FAILED"
            and got
        ),
        "FAILED",
        PROMPT,
    )
    elapsed = time.monotonic() - restarted
    assert "Kiln stopped during the build" in image["state"]["reason"], image["state"]

    wait_until(lambda: not qemu_processes(runtime), "the leftover QEMU gone", 30)
    assert not instance.exists(), f"{instance} (overlay, sockets, owner lock) was left behind"
    assert not list(runtime.glob("i-*"))
    mounts = Path("/proc/mounts").read_text()
    assert str(runtime) not in mounts and str(server.data_dir) not in mounts
    reader = Kiln(Settings.load(environ={}, data_dir=server.data_dir))
    try:
        with reader.database.transaction() as session:
            assert ledger.outstanding(session, arn) == []
            work = session.scalars(select(WorkItemRow).where(WorkItemRow.subject == arn)).all()
            assert work and all(w.state != WorkState.RUNNING for w in work), [
                (w.state, w.lease_owner) for w in work
            ]
            assert not session.scalars(select(AmiRow).where(AmiRow.image_arn == arn)).all()
    finally:
        reader.close()
    assert not list((server.data_dir / "amis").rglob("*ami-*"))
    print(f"interrupted AMI build failed and swept {elapsed:.1f}s after the restart")
    assert os.path.islink(server.data_dir / "vm-disks")  # the shared cache was not swept
