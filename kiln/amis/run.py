"""`kiln images run`: boot an AMI in a throwaway VM, for a person or for one command.

The AMI's disk is never written. Kiln stacks a private layer on it (`layer.qcow2`, backed by the
AMI's disk) and boots Kiln's launcher on that layer (which adds the instance's own overlay):

- `run_command` boots with the guest agent (installed offline into the overlay when the image
  lacks it, as builds do), runs one shell command through it, streams its output (stdout and
  stderr merged, in order), and returns its exit code;
- `run_console` makes the layer loginable first (root autologin on the serial console, and the
  `--ssh-key` in root's authorized_keys; both only in the layer), boots with the serial console on
  a unix socket and attaches the terminal to it until the VM powers off or the person presses
  Ctrl-] (Ctrl-C ends it too). `ssh_port` forwards 127.0.0.1:PORT to the guest's port 22
  (the image needs an SSH server for that).

Whatever ends the run (the command, Ctrl-C, SIGTERM, SIGHUP, an error) terminates the VM and
deletes the layer and the instance directory. A run killed with SIGKILL cannot clean up: the next
run (or `kiln serve`) on the same data directory removes what it left.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import signal
import socket
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from kiln import process
from kiln.artifacts.vm_mount import mounted_root, raw_view
from kiln.core.errors import ConfigurationError
from kiln.instances.base import LaunchSpec, new_instance_id
from kiln.instances.qemu import QemuInstance, QemuLauncher
from kiln.instances.qemu import remove_leftovers as remove_leftover_instances

AUTOLOGIN_DROPIN = "etc/systemd/system/serial-getty@ttyS0.service.d/kiln-autologin.conf"
AUTOLOGIN = """\
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
"""
# udev can take minutes under TCG on a busy host; systemd's 90 s wait for /dev/ttyS0 would then
# fail the serial getty (the console stays silent), so the layer waits longer.
DEVICE_TIMEOUT_CONF = "etc/systemd/system.conf.d/kiln-run.conf"
DEVICE_TIMEOUT = "[Manager]\nDefaultDeviceTimeoutSec=1800s\n"
ESCAPE = b"\x1d"  # Ctrl-]
CONSOLE_WAIT = 30.0
DEFAULT_TIMEOUT = 3600.0
Write = Callable[[bytes], None]


class RunError(ConfigurationError):
    """The AMI cannot be run as asked."""


@dataclass(frozen=True)
class RunSettings:
    runtime_dir: Path  # instance directories (short: unix socket paths)
    agent_cache: Path  # guest agent debs, shared with builds
    instance_type: str = "t3.small"
    ssh_port: int | None = None
    boot_timeout: float = 1800.0  # TCG on a busy host boots in minutes


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP: end the run the way Ctrl-C does."""


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Interrupted in the main thread while the run lasts."""

    def raise_interrupted(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(f"signal {signum}")

    previous = {
        sig: signal.signal(sig, raise_interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def throwaway_layer(
    disk: Path, work: Path, *, login: bool = False, ssh_key: str | None = None
) -> Iterator[Path]:
    """A qcow2 layer over the AMI's disk, loginable when asked; deleted on the way out."""
    work.mkdir(parents=True, exist_ok=False)
    owner = (work / "owner.lock").open("a")
    fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        layer = work / "layer.qcow2"
        argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(disk), "-F", "qcow2"]
        process.run([*argv, str(layer)], timeout=60)
        if login or ssh_key:
            with (
                raw_view(layer, work / "layer.raw") as raw,
                mounted_root(raw, work / "root") as root,
            ):
                make_loginable(root, autologin=login, ssh_key=ssh_key)
        yield layer
    finally:
        shutil.rmtree(work, ignore_errors=True)
        owner.close()


def remove_leftovers(runtime_dir: Path) -> list[str]:
    """What runs whose process died left (SIGKILL skips every cleanup): their VMs (as the
    server's sweep does) and their layers (a layer's owner lock is free once its run ended)."""
    removed = remove_leftover_instances(runtime_dir) if runtime_dir.is_dir() else []
    for work in sorted(runtime_dir.glob("run-i-*")):
        try:
            with (work / "owner.lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(work, ignore_errors=True)
        except BlockingIOError:
            continue  # a live run's
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        removed.append(work.name)
    return removed


def make_loginable(root: Path, *, autologin: bool, ssh_key: str | None) -> None:
    """Root autologin on ttyS0 and/or an authorised SSH key, in a mounted guest root."""
    if autologin:
        dropin = _inside(root, AUTOLOGIN_DROPIN)
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(AUTOLOGIN)
        timeout = _inside(root, DEVICE_TIMEOUT_CONF)
        timeout.parent.mkdir(parents=True, exist_ok=True)
        timeout.write_text(DEVICE_TIMEOUT)
    if ssh_key:
        ssh = _inside(root, "root/.ssh")
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = ssh / "authorized_keys"
        if keys.is_symlink():
            keys.unlink()
        existing = keys.read_text() if keys.is_file() else ""
        keys.write_text(existing + ssh_key.strip() + "\n")
        keys.chmod(0o600)


def _inside(root: Path, relative: str) -> Path:
    """A path in the guest that stays in the guest (the guest's symlinks are not followed out)."""
    path = root / relative
    existing = path.parent
    while not existing.exists() and existing != root:
        existing = existing.parent
    resolved, top = existing.resolve(), root.resolve()
    if resolved != top and top not in resolved.parents:
        raise RunError(f"/{relative} leaves the guest's root filesystem (a symlink); not changed")
    return path


def run_ami(
    settings: RunSettings,
    disk: Path,
    *,
    command: str | None,
    ssh_key: str | None,
    timeout: float,
    notice: Write,
) -> int:
    """Boot the AMI disk `disk` for one command (its exit code) or for a person (0)."""
    remove_leftovers(settings.runtime_dir)
    work = run_work_dir(settings.runtime_dir)
    login = command is None
    with interruptible(), throwaway_layer(disk, work, login=login, ssh_key=ssh_key) as layer:
        if command is not None:
            return run_command(settings, layer, command, write=stdout_writer(), timeout=timeout)
        return run_console(
            settings,
            layer,
            stdin_fd=sys.stdin.fileno(),
            stdout_fd=sys.stdout.fileno(),
            notice=notice,
        )


def run_command(
    settings: RunSettings, layer: Path, command: str, *, write: Write, timeout: float
) -> int:
    """Boot, run `command` with /bin/sh in the guest, write its output; its exit code."""
    launcher = _launcher(settings, agent=True, console=False)
    with launcher.launch(LaunchSpec(image=str(layer), instance_type=settings.instance_type)) as vm:
        outcome = vm.communicator.exec(["/bin/sh", "-c", command], on_output=write, timeout=timeout)
    if outcome.timed_out:
        return 124
    return outcome.exit_code


def run_console(
    settings: RunSettings, layer: Path, *, stdin_fd: int, stdout_fd: int, notice: Write
) -> int:
    """Boot and attach the terminal to the serial console until the VM stops or Ctrl-]."""
    launcher = _launcher(settings, agent=False, console=True)
    spec = LaunchSpec(image=str(layer), instance_type=settings.instance_type)
    with launcher.launch(spec, wait_for_agent=False) as vm:
        notice(b"Serial console attached: Ctrl-] or Ctrl-C ends the VM.\r\n")
        attach_console(vm, stdin_fd=stdin_fd, stdout_fd=stdout_fd)
    return 0


def _launcher(settings: RunSettings, *, agent: bool, console: bool) -> QemuLauncher:
    forwards = [(settings.ssh_port, 22)] if settings.ssh_port else []
    return QemuLauncher(
        settings.runtime_dir,
        agent_cache=settings.agent_cache,
        install_agent=agent,
        boot_timeout=settings.boot_timeout,
        host_forwards=forwards,
        console_socket=console,
    )


def attach_console(vm: QemuInstance, *, stdin_fd: int, stdout_fd: int) -> None:
    """Relay the terminal and the VM's console socket until the VM ends or Ctrl-]."""
    sock = _connect(vm.directory / "console.sock", alive=lambda: vm.pid is not None)
    with sock, _terminal(stdin_fd):
        reading_stdin = True
        while vm.pid is not None:
            sources: list[int | socket.socket] = [sock]
            if reading_stdin:
                sources.append(stdin_fd)
            ready, _, _ = select.select(sources, [], [], 0.5)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                os.write(stdout_fd, data)
            if stdin_fd in ready:
                typed = os.read(stdin_fd, 4096)
                if not typed:
                    reading_stdin = False  # a pipe ended: keep showing the console
                elif ESCAPE in typed:
                    sock.sendall(typed.split(ESCAPE, 1)[0])
                    return
                else:
                    sock.sendall(typed)


def _connect(path: Path, *, alive: Callable[[], bool]) -> socket.socket:
    deadline = time.monotonic() + CONSOLE_WAIT
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError as exc:
            sock.close()
            if time.monotonic() > deadline or not alive():
                raise RunError(f"the VM's serial console at {path} did not open: {exc}") from exc
            time.sleep(0.1)


@contextlib.contextmanager
def _terminal(fd: int) -> Iterator[None]:
    """Raw mode for a terminal, but Ctrl-C still interrupts (and Ctrl-\\, Ctrl-Z do nothing)."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        mode = termios.tcgetattr(fd)
        mode[3] |= termios.ISIG
        mode[6][termios.VQUIT] = b"\x00"
        mode[6][termios.VSUSP] = b"\x00"
        termios.tcsetattr(fd, termios.TCSANOW, mode)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_work_dir(runtime_dir: Path) -> Path:
    """A fresh folder for one run's layer, beside the instance directories."""
    return runtime_dir / f"run-{new_instance_id()}"


def stdout_writer() -> Write:
    def write(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    return write
