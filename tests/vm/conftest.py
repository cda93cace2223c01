"""Fixtures for QEMU build instances and Kiln's managed Debian VM base disks.

Base disks are cached in KILN_TEST_VM_DIR (default ~/.cache/kiln-test/vm) and reused across
sessions: the first run pays mmdebstrap + disk assembly + qcow2 compression (a few minutes);
later runs find the dated disks in well under a second. Instance runtime directories live under
a short /tmp path (unix socket paths are limited to 108 bytes) and are swept after the session.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.artifacts.vmdisk import BaseDisk, ensure_base_disk
from kiln.instances.qemu import QemuLauncher, remove_leftovers
from kiln.instances.qemu_probe import qemu_unavailable_reason

logger = logging.getLogger(__name__)

VM_DIR = Path(os.environ.get("KILN_TEST_VM_DIR", Path.home() / ".cache" / "kiln-test" / "vm"))
BUILD_TOOLS = ("mmdebstrap", "mkfs.ext4", "sfdisk", "partx", "losetup", "qemu-storage-daemon")


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def qemu_ready() -> None:
    reason = qemu_unavailable_reason()
    if reason is None:
        missing = [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]
        if missing:
            reason = f"missing {', '.join(missing)} (scripts/debian-packages.txt)"
    if reason is None and os.geteuid() != 0:
        reason = "building and attaching VM disks needs root (loop devices, mounts)"
    if reason:
        skip_or_fail(f"QEMU instances unavailable: {reason}")


def _disk(guest_agent: bool) -> BaseDisk:
    started = time.monotonic()
    disk = ensure_base_disk(VM_DIR, "12", guest_agent=guest_agent)
    logger.warning(
        "TIMING base disk %s %s ready in %.1fs",
        disk.version,
        disk.spec.flavor,
        time.monotonic() - started,
    )
    return disk


@pytest.fixture(scope="session")
def agent_disk(qemu_ready: None) -> BaseDisk:
    """Debian 12 base disk with qemu-guest-agent baked in."""
    return _disk(guest_agent=True)


@pytest.fixture(scope="session")
def plain_disk(qemu_ready: None) -> BaseDisk:
    """Debian 12 base disk without qemu-guest-agent (the default flavor)."""
    return _disk(guest_agent=False)


@pytest.fixture(scope="session")
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kiln-vm-", dir="/tmp"))
    try:
        yield path
    finally:
        for record_dir in path.glob("i-*"):
            logger.warning("instance %s was left behind by a test", record_dir.name)
        remove_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def launcher(runtime_dir: Path, agent_disk: BaseDisk) -> QemuLauncher:
    return QemuLauncher(
        runtime_dir,
        agent_cache=VM_DIR / "agent-debs",
        probe_kernel=agent_disk.kernel,
        boot_timeout=600,
    )
