"""QEMU build instances: one VM per instance, booted from a copy-on-write overlay of its parent.

Each instance lives in `<runtime>/<instance-id>/`:

    instance.json   image, parent disk, type, accelerator, deadline, boot timeout, agent packages
                    Kiln installed
    owner.lock      flock'ed by the launching process for the instance's life
    overlay.qcow2   `qemu-img create -f qcow2 -b PARENT -F qcow2` (the parent is never written)
    qemu.pid        from `-daemonize -pidfile`
    qga.sock        virtio-serial port org.qemu.guest_agent.0 (the Communicator's wire)
    qmp.sock        QMP, for system_powerdown and quit
    console.log     the serial console

The VM gets the instance type's vCPUs and memory, KVM when the probe proves it works (else TCG),
a user-mode NIC (DHCP, NAT to the host's network), and, when `install_agent` is on, the guest agent
installed offline into the overlay before boot if the parent lacks it. `launch` returns when the
agent answers. A hung guest is killed when its lifetime ends. After a crash, `list_instances` and
`remove_leftovers` find instance directories whose owner lock is free (or whose deadline passed),
kill their QEMU and delete them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kiln import process
from kiln.artifacts.vm_agent import ensure_guest_agent, remove_guest_agent
from kiln.instances.base import InstanceError, LaunchSpec, new_instance_id
from kiln.instances.qemu_agent import AgentError, GuestAgent, QemuCommunicator
from kiln.instances.qemu_probe import QEMU, Accelerator, accelerator
from kiln.instances.qemu_qmp import QmpError, qmp_command
from kiln.instances.types import resource_limits

logger = logging.getLogger(__name__)

BOOT_TIMEOUT = 600.0
SHUTDOWN_TIMEOUT = 300.0
MAX_LIFETIME = 6 * 3600.0
START_TIMEOUT = 60.0
KILL_WAIT = 10.0
POWERDOWN_REPEAT = 20.0
HANDSHAKE_FOR_SHUTDOWN = 5.0
CONSOLE_TAIL = 3000


@dataclass(frozen=True)
class InstanceRecord:
    """A QEMU instance directory as a sweep sees it."""

    instance_id: str
    directory: Path
    pid: int | None  # the running QEMU, if any
    owned: bool  # a live process holds its owner lock
    deadline: float  # epoch seconds after which it is overdue

    @property
    def leftover(self) -> bool:
        return not self.owned or time.time() > self.deadline


class QemuLauncher:
    """Launches QemuInstances; `resolve` maps an image name to a qcow2 path (default: as is)."""

    def __init__(
        self,
        runtime_dir: Path,
        *,
        agent_cache: Path | None = None,
        resolve: Callable[[str], Path] | None = None,
        install_agent: bool = True,
        probe_kernel: Path | None = None,
        boot_timeout: float = BOOT_TIMEOUT,
        max_lifetime: float = MAX_LIFETIME,
        host_forwards: Sequence[tuple[int, int]] = (),
        console_socket: bool = False,
    ) -> None:
        """`host_forwards` are (host port on 127.0.0.1, guest port) TCP forwards; with
        `console_socket` the serial console is a unix socket (`console.sock`, still logged to
        console.log) a person can attach to."""
        self.runtime_dir = runtime_dir
        self.host_forwards = tuple(host_forwards)
        self.console_socket = console_socket
        self.agent_cache = agent_cache or runtime_dir / "agent-debs"
        self.resolve = resolve or Path
        self.install_agent = install_agent
        self.probe_kernel = probe_kernel
        self.boot_timeout = boot_timeout
        self.max_lifetime = max_lifetime

    def launch(self, spec: LaunchSpec, *, wait_for_agent: bool = True) -> QemuInstance:
        parent = self.resolve(spec.image).resolve()
        if not parent.is_file():
            raise InstanceError(f"parent disk {parent} does not exist")
        instance = QemuInstance._create(
            self.runtime_dir,
            spec,
            parent,
            lifetime=self.max_lifetime,
            boot_timeout=self.boot_timeout,
        )
        try:
            instance._prepare(parent, self.agent_cache if self.install_agent else None)
            instance._start(
                accelerator(self.probe_kernel),
                forwards=self.host_forwards,
                console_socket=self.console_socket,
            )
            if wait_for_agent:
                instance._wait_for_agent(self.boot_timeout)
        except BaseException:
            instance.terminate()
            raise
        return instance


class QemuInstance:
    """One VM. Use `shutdown()` to stop it cleanly (the overlay stays), `terminate()` to destroy."""

    def __init__(self, directory: Path, owner: IO[str], meta: dict[str, Any]) -> None:
        self.directory = directory
        self._owner: IO[str] | None = owner
        self._meta = meta
        self._agent = GuestAgent(directory / "qga.sock")
        self._communicator = QemuCommunicator(
            self._agent, reboot_timeout=float(meta.get("boot_timeout", BOOT_TIMEOUT))
        )
        self._watchdog: threading.Timer | None = None
        self._lock = threading.Lock()
        self.boot_seconds = 0.0

    @property
    def id(self) -> str:
        return self.directory.name

    @property
    def communicator(self) -> QemuCommunicator:
        return self._communicator

    @property
    def overlay(self) -> Path:
        return self.directory / "overlay.qcow2"

    @property
    def console_log(self) -> Path:
        return self.directory / "console.log"

    @property
    def image(self) -> str:
        """What the instance was launched from (an AMI id or a disk path)."""
        return str(self._meta.get("image") or self._meta.get("parent") or "")

    @property
    def agent_packages(self) -> tuple[str, ...]:
        """The packages Kiln installed to get an agent (empty when the parent had one)."""
        return tuple(self._meta.get("agent_packages", ()))

    @property
    def accelerator(self) -> str:
        return str(self._meta.get("accelerator", ""))

    @property
    def pid(self) -> int | None:
        return _running_pid(self.directory)

    # -- launch steps -------------------------------------------------------------------------

    @classmethod
    def _create(
        cls,
        runtime_dir: Path,
        spec: LaunchSpec,
        parent: Path,
        *,
        lifetime: float,
        boot_timeout: float = BOOT_TIMEOUT,
    ) -> QemuInstance:
        limits = resource_limits(spec.instance_type)
        directory = runtime_dir / new_instance_id()
        directory.mkdir(parents=True)
        owner = (directory / "owner.lock").open("a")
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        meta: dict[str, Any] = {
            "name": spec.name,
            "labels": dict(spec.labels),
            "image": spec.image,
            "parent": str(parent),
            "instance_type": spec.instance_type,
            "cpus": int(limits.cpus),
            "memory_mib": limits.memory_mib,
            "created": time.time(),
            "lifetime": lifetime,
            "deadline": time.time() + lifetime,
            "boot_timeout": boot_timeout,
        }
        instance = cls(directory, owner, meta)
        instance._save()
        return instance

    def _save(self) -> None:
        path = self.directory / "instance.json"
        path.with_suffix(".tmp").write_text(json.dumps(self._meta, indent=2) + "\n")
        os.replace(path.with_suffix(".tmp"), path)

    def _prepare(self, parent: Path, agent_cache: Path | None) -> None:
        argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(parent), "-F", "qcow2"]
        _control([*argv, str(self.overlay)], what="qemu-img create")
        if agent_cache is not None:
            started = time.monotonic()
            packages = ensure_guest_agent(
                self.overlay, cache=agent_cache, work=self.directory / "attach"
            )
            self._meta["agent_packages"] = list(packages)
            self._meta["agent_install_seconds"] = round(time.monotonic() - started, 1)
            self._save()

    def _start(
        self,
        accel: Accelerator,
        *,
        forwards: Sequence[tuple[int, int]] = (),
        console_socket: bool = False,
    ) -> None:
        self._meta["accelerator"] = accel.name
        self._save()
        d = self.directory
        console = f"file,id=console,path={d / 'console.log'}"
        if console_socket:
            console = (
                f"socket,id=console,path={d / 'console.sock'},server=on,wait=off,"
                f"logfile={d / 'console.log'}"
            )
        nic = "user,model=virtio-net-pci" + "".join(
            f",hostfwd=tcp:127.0.0.1:{host}-:{guest}" for host, guest in forwards
        )
        argv = [
            QEMU,
            "-name",
            f"kiln-{self.id},process=kiln-{self.id}",
            *accel.qemu_args,
            "-smp",
            str(self._meta["cpus"]),
            "-m",
            str(self._meta["memory_mib"]),
            "-nodefaults",
            "-display",
            "none",
            "-chardev",
            console,
            "-serial",
            "chardev:console",
            "-drive",
            f"file={self.overlay},if=virtio,format=qcow2,discard=unmap",
            "-nic",
            nic,
            "-device",
            "virtio-serial-pci",
            "-chardev",
            f"socket,id=qga,path={d / 'qga.sock'},server=on,wait=off",
            "-device",
            "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
            "-qmp",
            f"unix:{d / 'qmp.sock'},server=on,wait=off",
            "-daemonize",
            "-pidfile",
            str(d / "qemu.pid"),
        ]
        _control(argv, what="qemu start", timeout=START_TIMEOUT)
        lifetime = float(self._meta["lifetime"])
        self._meta["deadline"] = time.time() + lifetime
        self._save()
        self._watchdog = threading.Timer(lifetime, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        logger.info("instance %s: qemu %s started (%s)", self.id, self.pid, accel.name)

    def _wait_for_agent(self, timeout: float) -> None:
        try:
            self.boot_seconds = self._agent.wait_ready(timeout, alive=lambda: self.pid is not None)
        except AgentError as exc:
            raise InstanceError(f"instance {self.id} did not boot: {exc}{self._console()}") from exc
        logger.info("instance %s: agent ready after %.1fs", self.id, self.boot_seconds)

    def _console(self) -> str:
        try:
            tail = self.console_log.read_bytes()[-CONSOLE_TAIL:].decode("utf-8", "replace")
        except OSError:
            return ""
        return f"\n--- serial console (tail) ---\n{tail}"

    # -- life cycle ---------------------------------------------------------------------------

    def reboot(self) -> None:
        self._communicator.reboot()

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> bool:
        """Power the guest off cleanly; kill it after timeout. True when it stopped by itself.

        The agent's `guest-shutdown` works even while systemd is still booting; without an agent
        the ACPI power button (QMP `system_powerdown`) is pressed, again every POWERDOWN_REPEAT
        seconds, since a press before logind listens is lost.
        """
        pid = self.pid
        if pid is None:
            return True
        deadline = time.monotonic() + timeout
        try:
            self._agent.handshake(HANDSHAKE_FOR_SHUTDOWN)
            self._agent.send("guest-shutdown", {"mode": "powerdown"})
            asked_agent = True
        except (AgentError, OSError) as exc:
            logger.info("instance %s: no agent for shutdown (%s); using ACPI", self.id, exc)
            asked_agent = False
        self._agent.close()
        while time.monotonic() < deadline:
            if not asked_agent:
                with contextlib.suppress(QmpError):
                    qmp_command(self.directory / "qmp.sock", "system_powerdown")
            wait = min(POWERDOWN_REPEAT, max(0.0, deadline - time.monotonic()))
            if _wait_gone(pid, wait, self.directory):
                return True
            asked_agent = False
        logger.warning("instance %s did not power down in %gs; killing it", self.id, timeout)
        _kill_qemu(self.directory)
        return False

    def remove_agent(self) -> None:
        """Purge the agent Kiln installed (before capture). The instance must be shut down."""
        if self.pid is not None:
            raise InstanceError(f"instance {self.id} must be stopped before removing its agent")
        remove_guest_agent(self.overlay, self.agent_packages, work=self.directory / "attach")

    def terminate(self) -> None:
        """Kill the VM and delete its directory. Idempotent."""
        with self._lock:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._agent.close()
            destroy(self.directory)
            if self._owner is not None:
                self._owner.close()
                self._owner = None

    def _expire(self) -> None:
        logger.error("instance %s outlived its lifetime; killing it", self.id)
        try:
            _kill_qemu(self.directory)
        except InstanceError as exc:  # a timer thread has nobody to raise to
            logger.error("instance %s: %s", self.id, exc)

    def __enter__(self) -> QemuInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()


# -- sweeps -----------------------------------------------------------------------------------


def list_instances(runtime_dir: Path) -> list[InstanceRecord]:
    records = []
    for directory in sorted(runtime_dir.glob("i-*")):
        if not directory.is_dir():
            continue
        try:
            meta = json.loads((directory / "instance.json").read_text())
        except (OSError, ValueError):
            meta = {}
        records.append(
            InstanceRecord(
                instance_id=directory.name,
                directory=directory,
                pid=_running_pid(directory),
                owned=_owned(directory),
                deadline=float(meta.get("deadline", 0.0)),
            )
        )
    return records


def remove_leftovers(runtime_dir: Path) -> list[str]:
    """Kill and delete every instance no live process owns (or that is overdue)."""
    removed = []
    for record in list_instances(runtime_dir):
        if record.leftover:
            logger.warning("removing leftover QEMU instance %s", record.instance_id)
            destroy(record.directory)
            removed.append(record.instance_id)
    return removed


def destroy(directory: Path) -> None:
    """Stop the instance's QEMU (quit, then SIGKILL) and delete its directory."""
    if _running_pid(directory) is not None:
        with contextlib.suppress(QmpError):
            qmp_command(directory / "qmp.sock", "quit", timeout=5)
        _kill_qemu(directory)
    attach = directory / "attach"
    if attach.exists():
        with contextlib.suppress(process.CommandError):
            process.run(["umount", "-R", "-l", str(attach / "root")], timeout=30, check=False)
    shutil.rmtree(directory, ignore_errors=True)


def _owned(directory: Path) -> bool:
    try:
        with (directory / "owner.lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def _running_pid(directory: Path) -> int | None:
    """The pid of this directory's QEMU, if that process is alive (and really ours)."""
    try:
        pid = int((directory / "qemu.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if str(directory).encode() not in cmdline or state in ("Z", "X"):
        return None
    return pid


def _kill_qemu(directory: Path) -> None:
    pid = _running_pid(directory)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, KILL_WAIT, directory):
        raise InstanceError(f"QEMU {pid} of {directory.name} survived SIGKILL")


def _wait_gone(pid: int, timeout: float, directory: Path | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if directory is not None and _running_pid(directory) is None:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def _control(argv: list[str], *, what: str, timeout: float = START_TIMEOUT) -> None:
    try:
        process.run(argv, timeout=timeout)
    except process.CommandError as exc:
        raise InstanceError(f"{what} failed: {exc}") from exc
