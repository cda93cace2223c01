"""Time how long Kiln's managed Debian 12 VM base disk takes to boot to a responding guest agent.

Each run launches one instance of the disk (the `agent` flavor, so nothing is installed offline)
through Kiln's own QemuLauncher, and reports:

- boot: from QEMU's start to the guest agent's first answer (`QemuInstance.boot_seconds`);
- cpu: the CPU seconds QEMU had used by then (user + system; under TCG this is the work the
  boot took, and it moves much less than the wall clock when other jobs share the host's cores);
- launch: the whole `QemuLauncher.launch` (overlay, QEMU start, boot);
- with `--blame`, the guest's own view once its boot is over (`systemd-analyze`, the slowest
  units, the chain that led to the agent).

Usage: .venv/bin/python bench/vm_boot.py [--runs N] [--disk PATH] [--instance-type T] [--blame]
The base disk is built on first use and cached in KILN_TEST_VM_DIR (default
~/.cache/kiln-test/vm, shared with tests/vm). The accelerator is the one Kiln picks (the KVM
probe, or KILN_QEMU_ACCEL=kvm|tcg).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kiln.artifacts.vmdisk import ensure_base_disk
from kiln.instances.base import LaunchSpec
from kiln.instances.qemu import QemuInstance, QemuLauncher, remove_leftovers

VM_DIR = Path(os.environ.get("KILN_TEST_VM_DIR", Path.home() / ".cache" / "kiln-test" / "vm"))


def _guest(instance: QemuInstance, argv: list[str], timeout: float = 60) -> str:
    out = bytearray()
    instance.communicator.exec(argv, on_output=out.extend, timeout=timeout)
    return out.decode("utf-8", "replace").strip()


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _blame(instance: QemuInstance) -> None:
    _guest(instance, ["systemctl", "is-system-running", "--wait"], timeout=600)
    for argv in (
        ["systemd-analyze"],
        ["sh", "-c", "systemd-analyze blame --no-pager | head -n 8"],
        ["systemd-analyze", "critical-chain", "qemu-guest-agent.service"],
    ):
        print("  " + _guest(instance, argv).replace("\n", "\n  "), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--disk", type=Path, help="a qcow2 to boot instead of the base disk")
    parser.add_argument("--instance-type", default="t3.small")
    parser.add_argument("--blame", action="store_true", help="print systemd-analyze per run")
    parser.add_argument("--boot-timeout", type=float, default=900.0)
    parser.add_argument("--console", type=Path, help="keep each run's serial console log here")
    args = parser.parse_args()

    if args.disk is not None:
        disk, kernel = args.disk.resolve(), None
        print(f"disk {disk}")
    else:
        base = ensure_base_disk(VM_DIR, "12", guest_agent=True)
        disk, kernel = base.path, base.kernel
        print(f"disk {base.name} {base.version} {base.spec.flavor} ({disk})")

    runtime = Path(tempfile.mkdtemp(prefix="kiln-bench-", dir="/tmp"))
    launcher = QemuLauncher(
        runtime, install_agent=False, probe_kernel=kernel, boot_timeout=args.boot_timeout
    )
    boots: list[float] = []
    cpus: list[float] = []
    try:
        for n in range(1, args.runs + 1):
            started = time.monotonic()
            with launcher.launch(
                LaunchSpec(image=str(disk), instance_type=args.instance_type)
            ) as vm:
                cpu = _cpu_seconds(vm.pid)
                launch = time.monotonic() - started
                boots.append(vm.boot_seconds)
                cpus.append(cpu)
                print(
                    f"run {n}: boot to agent {vm.boot_seconds:.1f}s, cpu {cpu:.1f}s "
                    f"(launch {launch:.1f}s, accel {vm.accelerator}, "
                    f"load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                if args.blame:
                    _blame(vm)
                if args.console is not None:
                    args.console.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(vm.console_log, args.console / f"run-{n}.log")
    finally:
        remove_leftovers(runtime)
        shutil.rmtree(runtime, ignore_errors=True)
    if boots:
        print(
            f"boot to agent over {len(boots)} runs: median {statistics.median(boots):.1f}s, "
            f"min {min(boots):.1f}s, max {max(boots):.1f}s; "
            f"QEMU cpu median {statistics.median(cpus):.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
