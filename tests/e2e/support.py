"""What the end-to-end tests share: podman storage with Kiln's Debian base, a Kiln server with a
one-worker build executor on a real build host, `kiln serve` as a real process (for the crash
tests), and short runtime folders for QEMU's unix sockets.

Fixtures built on these live in tests/e2e/conftest.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import ensure_debian_image
from kiln.cli.serving import background_server
from kiln.engine.context import EngineConfig
from kiln.engine.host import BuildHost
from kiln.executors.threads import ThreadExecutor
from kiln.instances.podman import podman_unavailable_reason
from kiln.instances.qemu import remove_leftovers
from kiln.settings import Settings
from tests.conftest import client_for, make_instance_profile
from tests.unit.engine.conftest import build_registry

STATE_DIR = Path(
    os.environ.get("KILN_TEST_STATE_DIR", Path.home() / ".cache" / "kiln-test" / "containers")
)
LEASE = dt.timedelta(seconds=30)
PROMPT = 30.0  # how soon a restarted Kiln fails a killed build: well inside the 60 s lease


def skip_or_fail(reason: str) -> None:
    """A missing capability skips the test, and fails it under CI=true."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def podman_storage(*tools: str) -> ContainerStorage:
    """Kiln's podman storage with the Debian 12 base image (cached after the first run on a
    machine); skips (or fails under CI) when podman, or one of `tools`, is missing."""
    storage = ContainerStorage.at(STATE_DIR)
    reason = podman_unavailable_reason(storage)
    if reason:
        skip_or_fail(f"podman build instances unavailable: {reason}")
    for tool in tools:
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (scripts/debian-packages.txt)")
    ensure_debian_image(storage, "12")
    return storage


@contextlib.contextmanager
def serving(kiln: Kiln, host: BuildHost, config: EngineConfig) -> Iterator[str]:
    """Kiln's server on a loopback port with a one-worker executor on `host`; yields its URL."""
    executor = ThreadExecutor(kiln.database, host, config, workers=1, lease=LEASE)
    with background_server(kiln) as url, executor:
        yield url


@contextlib.contextmanager
def build_client(kiln: Kiln, admin: Any, host: BuildHost, config: EngineConfig) -> Iterator[Any]:
    """`serving` with the engine's Image Builder operations and an instance profile `builder`;
    yields the administrator's Image Builder client."""
    kiln.registries["imagebuilder"] = build_registry()
    with serving(kiln, host, config) as url:
        make_instance_profile(url, admin, "builder")
        yield client_for(url, admin)


@contextlib.contextmanager
def runtime_folder() -> Iterator[Path]:
    """A short folder under /tmp for VM sockets (a unix socket path holds 108 bytes); any VM
    left in it is stopped at the end."""
    path = Path(tempfile.mkdtemp(prefix="kiln-vm-", dir="/tmp"))
    try:
        yield path
    finally:
        remove_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


def wait_until(check: Callable[[], Any], what: str, timeout: float) -> Any:
    """The first truthy value of `check()`, polled twice a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout}s")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`kiln serve` as a real process, in its own process group."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        port = free_port()
        env = {**os.environ, "KILN_CONTAINERS_DIR": str(STATE_DIR), "KILN_REGISTRIES": ""}
        argv = [sys.executable, "-c", "from kiln.cli.main import main; main()", "serve",
                "--data-dir", str(self.data_dir), "--port", str(port)]  # fmt: skip
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"kiln serve exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self.url
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"kiln serve did not listen: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the server and every process of its group (podman exec children too)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)  # reaped: no zombie that looks alive to recovery
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None


@contextlib.contextmanager
def server_process(folder: Path, *, vm_disks: Path | None = None) -> Iterator[Server]:
    """A `kiln serve` (not started yet) on a new data directory under `folder` whose first
    start made the administrator's key; `vm_disks` links the cached base disks in."""
    data_dir = folder / "kiln"
    Kiln(Settings.load(environ={}, data_dir=data_dir)).close()
    if vm_disks is not None:
        (data_dir / "vm-disks").symlink_to(vm_disks)
    made = Server(data_dir, folder / "serve.log")
    try:
        yield made
    finally:
        made.stop()
