"""Attaching VM disks on the host: loop devices, partition mounts, qcow2 views through FUSE.

Everything here is a context manager that undoes itself in reverse order, even after a failure:

- `loop_device(raw)` attaches a raw disk file (`losetup --find --show`) and makes its partition
  nodes with `partx -a` (`losetup -P` alone makes none on this kind of host, which has no udev).
- `mounted(device, target)` mounts a filesystem; `mounted_root(raw, target)` does both for the
  first partition of a raw disk.
- `raw_view(qcow2, view)` exposes a qcow2 image (an overlay, say) as a raw file through
  `qemu-storage-daemon --export type=fuse` (no nbd kernel module is needed), so the two above can
  reach into it; writes land in the qcow2.
- `chroot_mounts(root)` adds /proc, /sys and /dev for running maintainer scripts in a chroot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from kiln import process
from kiln.core.errors import BuildError

logger = logging.getLogger(__name__)

ATTACH_TIMEOUT = 60.0
DAEMON_STOP_TIMEOUT = 30.0


class DiskAttachError(BuildError):
    """A disk could not be attached, mounted or released."""


def _run(argv: list[str], *, timeout: float = ATTACH_TIMEOUT) -> str:
    try:
        return process.run(argv, timeout=timeout).text
    except process.CommandError as exc:
        raise DiskAttachError(str(exc)) from exc


@contextmanager
def loop_device(raw: Path) -> Iterator[str]:
    """A loop device for the raw disk file, with partition nodes (`/dev/loopNp1`, ...)."""
    device = _run(["losetup", "--find", "--show", str(raw)]).strip()
    try:
        _run(["partx", "-a", device])
        for _ in range(50):
            if Path(f"{device}p1").exists():
                break
            time.sleep(0.1)
        yield device
    finally:
        with contextlib.suppress(process.CommandError):
            process.run(["partx", "-d", device], timeout=ATTACH_TIMEOUT, check=False)
        process.run(["losetup", "-d", device], timeout=ATTACH_TIMEOUT, check=False)


@contextmanager
def mounted(device: str, target: Path, *, options: str = "") -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    argv = ["mount", device, str(target)]
    if options:
        argv[1:1] = ["-o", options]
    _run(argv)
    try:
        yield target
    finally:
        _unmount(target)


def _unmount(target: Path) -> None:
    done = process.run(["umount", str(target)], timeout=ATTACH_TIMEOUT, check=False)
    if done.returncode != 0:
        logger.warning("umount %s failed, detaching lazily: %s", target, done.stderr[-300:])
        process.run(["umount", "-l", str(target)], timeout=ATTACH_TIMEOUT, check=False)


@contextmanager
def mounted_root(raw: Path, target: Path) -> Iterator[Path]:
    """The first partition of the raw disk file, mounted at target."""
    with loop_device(raw) as device, mounted(f"{device}p1", target) as root:
        yield root


@contextmanager
def chroot_mounts(root: Path) -> Iterator[Path]:
    """/proc, /sys and /dev of the host inside root, for dpkg maintainer scripts."""
    with ExitStack() as stack:
        for fstype, source, where in (
            ("proc", "proc", "proc"),
            ("sysfs", "sysfs", "sys"),
        ):
            target = root / where
            target.mkdir(exist_ok=True)
            _run(["mount", "-t", fstype, source, str(target)])
            stack.callback(_unmount, target)
        dev = root / "dev"
        dev.mkdir(exist_ok=True)
        _run(["mount", "--bind", "/dev", str(dev)])
        stack.callback(_unmount, dev)
        yield root


@contextmanager
def raw_view(qcow2: Path, view: Path, *, writable: bool = True) -> Iterator[Path]:
    """The qcow2 image as a raw file at `view` (a FUSE export by qemu-storage-daemon)."""
    view.parent.mkdir(parents=True, exist_ok=True)
    view.touch()
    pidfile = view.with_name(view.name + ".pid")
    pidfile.unlink(missing_ok=True)
    argv = [
        "qemu-storage-daemon",
        "--blockdev",
        f"driver=file,node-name=file,filename={qcow2}",
        "--blockdev",
        "driver=qcow2,node-name=disk,file=file",
        "--export",
        f"type=fuse,id=view,node-name=disk,mountpoint={view},"
        f"writable={'on' if writable else 'off'}",
        "--daemonize",
        "--pidfile",
        str(pidfile),
    ]
    _run(argv)
    try:
        yield view
    finally:
        _stop_daemon(pidfile)
        view.unlink(missing_ok=True)


def _stop_daemon(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DAEMON_STOP_TIMEOUT
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        logger.warning("qemu-storage-daemon %d did not stop; killing it", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
