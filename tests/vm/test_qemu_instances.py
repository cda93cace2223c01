"""QEMU build instances end to end: boot, exec, transfer, timeout, reboot, shutdown, sweeps."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.artifacts.vm_agent import has_guest_agent
from kiln.artifacts.vm_mount import mounted_root, raw_view
from kiln.artifacts.vmdisk import BaseDisk
from kiln.instances.base import InstanceError, LaunchSpec
from kiln.instances.qemu import QemuInstance, QemuLauncher, list_instances, remove_leftovers
from kiln.instances.types import UnknownInstanceTypeError

pytestmark = [pytest.mark.vm, pytest.mark.slow]

logger = logging.getLogger(__name__)


def _qemu_pids(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"qemu-system" in cmdline and marker.encode() in cmdline and state != "Z":
            pids.append(int(proc.name))
    return pids


def _run(instance: QemuInstance, argv: list[str], **kwargs: object) -> tuple[int, bool, str]:
    out = bytearray()
    outcome = instance.communicator.exec(argv, on_output=out.extend, timeout=60, **kwargs)  # type: ignore[arg-type]
    return outcome.exit_code, outcome.timed_out, out.decode()


@pytest.fixture(scope="module")
def vm(launcher: QemuLauncher, agent_disk: BaseDisk) -> Iterator[QemuInstance]:
    started = time.monotonic()
    instance = launcher.launch(LaunchSpec(image=str(agent_disk.path), instance_type="t3.small"))
    logger.warning(
        "TIMING launch to agent %.1fs (boot %.1fs, accel %s)",
        time.monotonic() - started,
        instance.boot_seconds,
        instance.accelerator,
    )
    try:
        yield instance
    finally:
        instance.terminate()


def test_exec_uname_output_and_exit_code(vm: QemuInstance) -> None:
    assert vm.agent_packages == ()  # the parent had the agent: nothing installed
    started = time.monotonic()
    code, timed_out, out = _run(vm, ["uname", "-a"])
    logger.warning("TIMING exec round trip (uname -a) %.2fs", time.monotonic() - started)
    assert (code, timed_out) == (0, False)
    assert out.startswith("Linux kiln ")

    code, _, out = _run(vm, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert code == 3
    assert out == "out\nerr\n"


def test_exec_env_cwd_stdin_and_streaming(vm: QemuInstance) -> None:
    code, _, out = _run(
        vm,
        ["sh", "-c", 'echo "$KILN_X $(pwd)"; cat'],
        env={"KILN_X": "x1"},
        cwd="/etc",
        stdin=b"from-stdin",
    )
    assert (code, out) == (0, "x1 /etc\nfrom-stdin")

    arrivals: list[float] = []
    started = time.monotonic()
    outcome = vm.communicator.exec(
        ["sh", "-c", "echo first; sleep 3; echo second"],
        on_output=lambda chunk: arrivals.append(time.monotonic() - started),
        timeout=30,
    )
    assert outcome.exit_code == 0
    assert len(arrivals) >= 2 and arrivals[0] < arrivals[-1] - 2  # first line came early

    code, _, out = _run(vm, ["/no/such/command"])
    assert code == 127
    assert "no/such/command" in out


def test_upload_download_round_trip(vm: QemuInstance, tmp_path: Path) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    local = tmp_path / "payload.bin"
    local.write_bytes(payload)
    started = time.monotonic()
    vm.communicator.upload(local, "/var/tmp/kiln/deep/payload.bin")
    vm.communicator.download("/var/tmp/kiln/deep/payload.bin", tmp_path / "back" / "payload.bin")
    logger.warning("TIMING 3 MiB upload+download %.2fs", time.monotonic() - started)
    assert (tmp_path / "back" / "payload.bin").read_bytes() == payload
    code, _, out = _run(vm, ["sha256sum", "/var/tmp/kiln/deep/payload.bin"])
    assert code == 0
    assert out.split()[0] == hashlib.sha256(payload).hexdigest()


def test_command_past_its_timeout_is_killed(vm: QemuInstance) -> None:
    out = bytearray()
    started = time.monotonic()
    outcome = vm.communicator.exec(
        ["sh", "-c", "echo started; sleep 300 & sleep 300; echo never"],
        on_output=out.extend,
        timeout=3,
    )
    elapsed = time.monotonic() - started
    assert outcome.timed_out
    assert outcome.exit_code in (124, 137)
    assert elapsed < 15
    assert out.decode() == "started\n"
    code, _, ps = _run(vm, ["ps", "-eo", "args"])
    assert code == 0
    assert "sleep 300" not in ps  # the whole process group died


def test_reboot_through_the_agent(vm: QemuInstance) -> None:
    _, _, before = _run(vm, ["cat", "/proc/sys/kernel/random/boot_id"])
    started = time.monotonic()
    vm.reboot()
    logger.warning("TIMING reboot to agent %.1fs", time.monotonic() - started)
    code, _, after = _run(vm, ["cat", "/proc/sys/kernel/random/boot_id"])
    assert code == 0
    assert after != before
    # the file uploaded before the reboot survived it
    assert _run(vm, ["test", "-f", "/var/tmp/kiln/deep/payload.bin"])[0] == 0


def test_agent_installed_offline_then_removed(
    launcher: QemuLauncher, plain_disk: BaseDisk, runtime_dir: Path
) -> None:
    started = time.monotonic()
    instance = launcher.launch(LaunchSpec(image=str(plain_disk.path)))
    try:
        logger.warning(
            "TIMING launch without agent %.1fs (offline agent install %ss, boot %.1fs)",
            time.monotonic() - started,
            instance._meta.get("agent_install_seconds"),
            instance.boot_seconds,
        )
        assert "qemu-guest-agent" in instance.agent_packages
        code, _, out = _run(instance, ["dpkg-query", "-W", "-f", "${Status}", "qemu-guest-agent"])
        assert (code, out) == (0, "install ok installed")

        started = time.monotonic()
        assert instance.shutdown(timeout=300) is True  # the guest powered itself off
        logger.warning("TIMING clean shutdown %.1fs", time.monotonic() - started)
        assert instance.pid is None
        instance.remove_agent()
        with (
            raw_view(instance.overlay, runtime_dir / "check.raw") as raw,
            mounted_root(raw, runtime_dir / "check-root") as root,
        ):
            assert not has_guest_agent(root)
            status = (root / "var/lib/dpkg/status").read_text()
            for package in instance.agent_packages:  # nothing else needs them: all purged
                assert f"Package: {package}\n" not in status
            assert (root / "etc/hostname").read_text() == "kiln\n"
        assert not has_guest_agent(Path("/nonexistent"))
    finally:
        instance.terminate()
    assert not instance.directory.exists()
    assert _qemu_pids(instance.id) == []
    assert not (runtime_dir / "check.raw").exists()


def test_terminate_leaves_nothing(vm: QemuInstance, runtime_dir: Path) -> None:
    # runs last in this module: the shared instance goes away here
    pid = vm.pid
    assert pid is not None
    vm.terminate()
    vm.terminate()  # idempotent
    assert _qemu_pids(vm.id) == []
    assert not vm.directory.exists()
    assert vm.id not in [r.instance_id for r in list_instances(runtime_dir)]


LAUNCH_AND_HANG = """
import sys, time
from pathlib import Path
from kiln.instances.base import InstanceError, LaunchSpec
from kiln.instances.qemu import QemuLauncher
launcher = QemuLauncher(Path(sys.argv[1]), install_agent=False, boot_timeout=600)
launcher.launch(LaunchSpec(image=sys.argv[2]))
time.sleep(600)
"""


def test_remove_leftovers_after_the_owner_died(
    agent_disk: BaseDisk, tmp_path_factory: pytest.TempPathFactory
) -> None:
    runtime = Path(os.environ.get("TMPDIR", "/tmp")) / f"kiln-vm-crash-{os.getpid()}"
    runtime.mkdir()
    owner = subprocess.Popen(
        [sys.executable, "-c", LAUNCH_AND_HANG, str(runtime), str(agent_disk.path)]
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            records = list_instances(runtime)
            if records and records[0].pid is not None:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the owner process never started QEMU")
        assert records[0].owned and not records[0].leftover
        assert remove_leftovers(runtime) == []  # a live owner keeps its instance
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        (record,) = list_instances(runtime)
        assert record.leftover and record.pid is not None
        assert remove_leftovers(runtime) == [record.instance_id]
        assert _qemu_pids(record.instance_id) == []
        assert list(runtime.iterdir()) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        remove_leftovers(runtime)
        runtime.rmdir()


def test_a_guest_past_its_lifetime_is_killed(agent_disk: BaseDisk, runtime_dir: Path) -> None:
    hurried = QemuLauncher(runtime_dir, install_agent=False, max_lifetime=2, boot_timeout=120)
    before = {r.instance_id for r in list_instances(runtime_dir)}
    running = set(_qemu_pids(str(runtime_dir)))
    started = time.monotonic()
    with pytest.raises(InstanceError, match=r"did not boot: the VM behind .* is gone"):
        hurried.launch(LaunchSpec(image=str(agent_disk.path)))
    assert time.monotonic() - started < 60
    assert {r.instance_id for r in list_instances(runtime_dir)} == before  # cleaned up
    assert set(_qemu_pids(str(runtime_dir))) <= running


def test_unknown_parent_and_instance_type_fail_early(
    launcher: QemuLauncher, runtime_dir: Path, agent_disk: BaseDisk
) -> None:
    with pytest.raises(InstanceError, match="does not exist"):
        launcher.launch(LaunchSpec(image=str(runtime_dir / "missing.qcow2")))
    with pytest.raises(UnknownInstanceTypeError):
        launcher.launch(LaunchSpec(image=str(agent_disk.path), instance_type="z9.huge"))
    assert [r for r in list_instances(runtime_dir) if r.pid is None] == []
