"""An AMI from Kiln's base disk, imported through ImportDiskImage, booted by `kiln images run`
(through the CLI, as a person would) and exported to vmdk.

One boot: `--exec` installs the guest agent into the throwaway overlay (the base disk has none),
runs the command, prints its output and exits with its exit code; afterwards no QEMU process, no
instance directory and no layer is left, and the AMI's disk is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiln import process
from kiln.app import vm_runtime_dir
from kiln.artifacts.vmdisk import BaseDisk
from kiln.cli.serving import background_server
from tests.conftest import client_for, make_instance_profile

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.timeout(3600)]

logger = logging.getLogger(__name__)
KILN = [sys.executable, "-m", "kiln.cli.main"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _kiln(*args: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """The CLI, stopped with SIGTERM (never SIGKILL, which would leave its VM) at the timeout."""
    proc = subprocess.Popen([*KILN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _qemu_processes(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmdline and marker.encode() in cmdline:
                found.append(proc.name)
    return found


@pytest.fixture(scope="module")
def imported(plain_disk: BaseDisk, tmp_path_factory):
    """(data_dir, AMI id): Kiln's base disk imported with ImportDiskImage."""
    from kiln.app import Kiln
    from kiln.settings import Settings

    data_dir = tmp_path_factory.mktemp("kiln-run")
    kiln = Kiln(Settings.load(environ={}, data_dir=data_dir))
    try:
        store = kiln.objects.for_bucket("disks")
        store.create_bucket("disks")
        with plain_disk.path.open("rb") as body:
            store.put_object("disks", "debian-12.qcow2", body)
        with background_server(kiln) as url:
            admin = kiln.admin_credentials()
            ib = client_for(url, admin)
            profile = make_instance_profile(url, admin, "builders")
            infra = ib.create_infrastructure_configuration(
                name="builders", instanceProfileName=profile
            )["infrastructureConfigurationArn"]
            started = time.monotonic()
            arn = ib.import_disk_image(
                name="debian-base",
                semanticVersion="1.0.0",
                platform="Linux",
                osVersion="Debian 12",
                infrastructureConfigurationArn=infra,
                uri="s3://disks/debian-12.qcow2",
            )["imageBuildVersionArn"]
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                image = ib.get_image(imageBuildVersionArn=arn)["image"]
                if image["state"]["status"] in ("AVAILABLE", "FAILED"):
                    break
                time.sleep(1)
            logger.warning("TIMING ImportDiskImage %.1fs", time.monotonic() - started)
            assert image["state"]["status"] == "AVAILABLE", image["state"]
            (ami,) = image["outputResources"]["amis"]
    finally:
        kiln.close()
    return data_dir, ami["image"]


def test_images_run_exec_shows_the_file_after_boot(imported) -> None:
    data_dir, ami = imported
    disk = data_dir / "amis" / "us-east-1" / f"{ami}.qcow2"
    before = _sha256(disk)
    started = time.monotonic()
    done = _kiln(
        "images", "run", ami, "--data-dir", str(data_dir),
        "--exec", "cat /etc/os-release; echo to-stderr >&2; exit 7",
        timeout=1500,
    )  # fmt: skip
    logger.warning("TIMING kiln images run --exec %.1fs", time.monotonic() - started)
    out = done.stdout.decode()
    assert done.returncode == 7, done.stderr.decode()[-3000:]
    assert 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in out
    assert "to-stderr" in out
    runtime = vm_runtime_dir(data_dir.resolve())
    assert not list(runtime.glob("i-*")) and not list(runtime.glob("run-*"))
    assert not _qemu_processes(str(runtime))
    assert _sha256(disk) == before  # the AMI never changes


def test_images_export_vmdk_passes_qemu_img_check(imported, tmp_path: Path) -> None:
    data_dir, ami = imported
    output = tmp_path / "exported.vmdk"
    done = _kiln(
        "images", "export", ami, "--format", "vmdk", "--output", str(output),
        "--data-dir", str(data_dir), timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == str(output)
    process.run(["qemu-img", "check", str(output)], timeout=600)
    info = json.loads(process.run(["qemu-img", "info", "--output=json", str(output)]).text)
    assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert info["virtual-size"] == 4 * 1024**3


def test_images_run_refuses_an_ami_of_no_launchable_account(imported) -> None:
    data_dir, _ami = imported
    done = _kiln(
        "images", "run", "ami-0123456789abcdef0", "--data-dir", str(data_dir), "--exec", "true",
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "has no AMI ami-0123456789abcdef0" in done.stderr.decode()


def _read_until(proc: subprocess.Popen[bytes], seen: bytearray, needle: bytes, timeout: float):
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while needle not in seen:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"no {needle!r} on the console; it shows:\n{seen[-3000:]!r}")
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            seen += os_read(proc.stdout.fileno())


def os_read(fd: int) -> bytes:
    return os.read(fd, 65536)


def test_images_run_attaches_a_root_console_until_ctrl_bracket(imported) -> None:
    data_dir, ami = imported
    runtime = vm_runtime_dir(data_dir.resolve())
    proc = subprocess.Popen(
        [*KILN, "images", "run", ami, "--data-dir", str(data_dir), "--ssh-port", "2299"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = bytearray()
    try:
        started = time.monotonic()
        _read_until(proc, seen, b"root@kiln", timeout=1200)  # autologin's shell prompt
        logger.warning("TIMING console to root prompt %.1fs", time.monotonic() - started)
        assert _qemu_processes(str(runtime))
        assert proc.stdin is not None
        proc.stdin.write(b"echo $((6 * 7))\n")
        proc.stdin.flush()
        _read_until(proc, seen, b"42", timeout=120)
        proc.stdin.write(b"\x1d")  # Ctrl-]
        proc.stdin.flush()
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=120)
    assert not _qemu_processes(str(runtime))
    assert not list(runtime.glob("i-*")) and not list(runtime.glob("run-*"))
