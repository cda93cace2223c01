"""Which QEMU accelerator works here: KVM only when a short probe proves it, else TCG.

`/dev/kvm` existing proves little: on some hosts it is a paravirtual PVM device under which stock
Debian kernels hang right after real mode (SeaBIOS and GRUB still run). So the probe, after the
cheap checks (device access, no `kvm_pvm` module, a vmx/svm CPU flag), boots a real kernel under
KVM with no root filesystem and a `panic=-1 -no-reboot` command line: when the kernel gets as far
as looking for its root filesystem within PROBE_TIMEOUT, KVM works. The answer is cached per
process. `KILN_QEMU_ACCEL=kvm|tcg` overrides the probe.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kiln import process

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 45.0
QEMU = "qemu-system-x86_64"
REACHED_ROOT_MOUNT = ("VFS: Unable to mount root", "Kernel panic", "No working init found")
ACCEL_ENV = "KILN_QEMU_ACCEL"

_cache: dict[Path | None, Accelerator] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Accelerator:
    name: str  # "kvm" or "tcg"
    reason: str  # why this one

    @property
    def qemu_args(self) -> list[str]:
        if self.name == "kvm":
            return ["-accel", "kvm", "-cpu", "host"]
        return ["-accel", "tcg", "-cpu", "max"]


def qemu_unavailable_reason() -> str | None:
    """Why QEMU instances cannot run here, or None."""
    for tool in (QEMU, "qemu-img", "qemu-storage-daemon"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/debian-packages.txt)"
    return None


def accelerator(kernel: Path | None = None) -> Accelerator:
    """The accelerator to use, probing KVM (with `kernel`, when given) once per process."""
    forced = os.environ.get(ACCEL_ENV, "").strip().lower()
    if forced in ("kvm", "tcg"):
        return Accelerator(forced, f"{ACCEL_ENV}={forced}")
    with _lock:
        if kernel not in _cache:
            reason = kvm_unavailable_reason(kernel)
            _cache[kernel] = (
                Accelerator("tcg", reason) if reason else Accelerator("kvm", "probe booted")
            )
            logger.info("QEMU accelerator: %s (%s)", _cache[kernel].name, _cache[kernel].reason)
        return _cache[kernel]


def kvm_unavailable_reason(kernel: Path | None) -> str | None:
    """Why KVM is not usable here, or None once a guest kernel has booted under it."""
    device = Path("/dev/kvm")
    if not device.exists():
        return "/dev/kvm does not exist"
    if not os.access(device, os.R_OK | os.W_OK):
        return "/dev/kvm is not readable and writable"
    if Path("/sys/module/kvm_pvm").exists():
        return "/dev/kvm is a PVM device (kvm_pvm); stock guest kernels hang under it"
    if not _cpu_has_virtualization():
        return "the CPU shows neither vmx nor svm"
    if kernel is None:
        return None
    return _boot_probe(kernel)


def _cpu_has_virtualization() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    return bool(flags & {"vmx", "svm"})


def _boot_probe(kernel: Path) -> str | None:
    argv = [
        QEMU,
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-m",
        "256",
        "-nodefaults",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        str(kernel),
        "-append",
        "console=ttyS0 panic=-1 root=/dev/kiln-probe-none rootwait=0",
    ]
    started = time.monotonic()
    try:
        done = process.run(argv, timeout=PROBE_TIMEOUT, check=False)
    except process.CommandError as exc:
        return f"a kernel did not boot under KVM within {PROBE_TIMEOUT:g}s ({exc})"
    output = done.text
    if any(marker in output for marker in REACHED_ROOT_MOUNT):
        logger.info("KVM probe booted %s in %.1fs", kernel, time.monotonic() - started)
        return None
    return f"a kernel under KVM did not reach its root mount (exit {done.returncode})"
