"""`kiln demo --vm` on a fresh data directory: the README's main job builds the example VM image
(Kiln's Debian 12 base disk + examples/components/hello-kiln-vm.yaml, which installs GNU hello
from the Debian mirror and writes /etc/kiln-greeting, + hello-kiln-vm-test.yaml, which checks
both in a VM booted from the new AMI), and it ends AVAILABLE.

The result is then checked from outside: the AMI's disk holds the package and the greeting (read
offline), the package inventory is the disk's, and, where `kiln images run` exists, a throw-away
VM booted from the AMI prints the greeting.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kiln.amis import registry as ami_registry
from kiln.amis.stores import ImageStores
from kiln.app import Kiln, vm_runtime_dir
from kiln.cli.serving import background_server
from kiln.settings import Settings
from tests.conftest import client_for
from tests.e2e.support import free_port
from tests.e2e.test_vm_acceptance import inventory, read_disk
from tests.vm.conftest import VM_DIR, plain_disk, qemu_ready  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.vm, pytest.mark.slow]

GREETING = "Hello from Kiln"
KILN = [sys.executable, "-c", "from kiln.cli.main import main; main()"]


def kiln_cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KILN_REGISTRIES": ""}
    return subprocess.run(
        [*KILN, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def images_run_available() -> bool:
    return kiln_cli("images", "run", "--help", timeout=60).returncode == 0


@pytest.mark.timeout(3600)
def test_kiln_demo_vm_builds_the_example_ami_and_it_boots_with_the_greeting(
    plain_disk: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    data_dir = (tmp_path / "kiln").resolve()
    data_dir.mkdir()
    (data_dir / "vm-disks").symlink_to(VM_DIR)  # the cached base disks: no second mmdebstrap
    demo = kiln_cli(
        "demo", "--vm", "--data-dir", str(data_dir), "--port", str(free_port()), timeout=3300
    )
    print(demo.stdout)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    arn = re.search(r"^Building (arn:\S+) \.\.\.$", demo.stdout, re.MULTILINE)
    ami = re.search(r"^  (ami-[0-9a-f]{17}) \(us-east-1\): (\S+\.qcow2)$", demo.stdout, re.M)
    assert arn and ami, demo.stdout
    assert "AVAILABLE" in demo.stdout
    assert not list(vm_runtime_dir(data_dir).glob("i-*")), "the demo left a VM instance behind"

    kiln = Kiln(Settings.load(environ={}, data_dir=data_dir))
    try:
        with background_server(kiln) as url:
            ib = client_for(url, kiln.admin_credentials())
            image = ib.get_image(imageBuildVersionArn=arn.group(1))["image"]
            assert image["state"]["status"] == "AVAILABLE", image["state"]
            assert [a["image"] for a in image["outputResources"]["amis"]] == [ami.group(1)]
            runs = ib.list_workflow_executions(imageBuildVersionArn=image["arn"])
            kinds = {w["type"]: w["status"] for w in runs["workflowExecutions"]}
            assert kinds.get("TEST") == "COMPLETED", kinds  # the test component ran, and passed
            listed = inventory(ib, image["arn"])
        with kiln.database.transaction() as session:
            row = ami_registry.get(session, ami.group(1))
        assert row is not None and row.image_arn == image["arn"]
    finally:
        kiln.close()
    disk = ImageStores.under(data_dir).path(row.disk)
    assert str(disk) == ami.group(2) and disk.is_file()

    view = read_disk(disk, tmp_path, "/etc/kiln-greeting")
    assert view.files["/etc/kiln-greeting"].strip() == GREETING
    assert "hello" in view.installed
    assert not view.agent and "qemu-guest-agent" not in view.installed  # Kiln's agent went
    assert "hello" in listed and "qemu-guest-agent" not in listed
    assert listed == view.installed  # the inventory is the output image's, package for package

    if not images_run_available():
        print("kiln images run is not available: the greeting was checked offline only")
        return
    ran = kiln_cli(
        "images", "run", ami.group(1), "--data-dir", str(data_dir),
        "--exec", "cat /etc/kiln-greeting; hello",
        timeout=1200,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert GREETING in ran.stdout and "Hello, world!" in ran.stdout, ran.stdout
    assert not list(vm_runtime_dir(data_dir).glob("i-*"))
