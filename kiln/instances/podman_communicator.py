"""PodmanCommunicator: the Communicator of a podman build instance.

- exec: `podman exec` with merged output streamed through kiln.process.stream. Killing
  `podman exec` does not kill what it started inside the container, so every exec carries a
  marker variable KILN_EXEC_ID; on timeout the container's processes (host pids from
  `podman top`) that carry the marker, and their descendants, are SIGKILLed. This needs no tool
  inside the image (no `timeout`, no `ps`, no shell), but it does need rootful podman.
- upload: a tar stream into `podman cp - CTR:/` (missing parent directories are created, files
  are owned by root); download: `podman cp CTR:PATH LOCAL`.
- reboot: `podman restart`, then wait until exec works again (the filesystem survives).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import signal
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from kiln import process
from kiln.artifacts.containers import ContainerStorage
from kiln.instances.base import InstanceError
from kiln.toe.communicator import ExecOutcome, OutputSink

logger = logging.getLogger(__name__)

INIT_IN_CONTAINER = "/dev/kiln-init"  # catatonit, bind-mounted into /dev: never committed
MARKER_VAR = "KILN_EXEC_ID"
TIMED_OUT_EXIT_CODE = 137  # 128 + SIGKILL, as a container runtime reports a killed process
PODMAN_FAILED = 125  # podman's own error, as opposed to the command's exit code
CONTROL_TIMEOUT = 120.0
READY_TIMEOUT = 60.0


class PodmanCommunicator:
    """Exec, upload, download and reboot for one running podman container."""

    def __init__(
        self, storage: ContainerStorage, container: str, *, user: str | None = None
    ) -> None:
        self.storage = storage
        self.container = container
        self.user = user

    def exec(
        self,
        argv: Sequence[str],
        *,
        on_output: OutputSink,
        timeout: float | None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
    ) -> ExecOutcome:
        marker = secrets.token_hex(12)
        cmd = ["podman", "exec", "--env", f"{MARKER_VAR}={marker}"]
        for key, value in (env or {}).items():
            cmd += ["--env", f"{key}={value}"]
        if cwd:
            cmd += ["--workdir", cwd]
        if self.user:
            cmd += ["--user", self.user]
        if stdin is not None:
            cmd.append("--interactive")
        cmd += [self.container, *argv]
        code, timed_out = process.stream(
            cmd, on_output=on_output, timeout=timeout, env=self.storage.env(), stdin=stdin
        )
        if timed_out:
            killed = self._kill_marked(marker)
            logger.info(
                "exec timed out after %ss in %s; killed pids %s", timeout, self.container, killed
            )
            return ExecOutcome(TIMED_OUT_EXIT_CODE, timed_out=True)
        if code == PODMAN_FAILED and not self.is_running():
            raise InstanceError(f"instance container {self.container} is not running")
        return ExecOutcome(code)

    def upload(self, local: Path, remote: str) -> None:
        if not remote.startswith("/"):
            raise InstanceError(f"upload destination must be an absolute path: {remote!r}")
        if not local.exists():
            raise InstanceError(f"upload source does not exist: {local}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(local, arcname=remote.strip("/"), filter=_owned_by_root)
        self._podman(["cp", "-", f"{self.container}:/"], input=buf.getvalue())

    def download(self, remote: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        self._podman(["cp", f"{self.container}:{remote}", str(local)])

    def reboot(self) -> None:
        self._podman(["restart", "--time", "5", self.container])
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Return once `podman exec` works in the container."""
        deadline = time.monotonic() + timeout
        argv = ["podman", "exec", self.container, INIT_IN_CONTAINER, "--version"]
        while True:
            done = self.storage.run(argv, timeout=CONTROL_TIMEOUT, check=False)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                err = done.stderr.decode("utf-8", "replace").strip()
                raise InstanceError(f"{self.container} does not accept exec: {err}")
            time.sleep(0.1)

    def is_running(self) -> bool:
        done = self.storage.run(
            ["podman", "container", "inspect", "--format", "{{.State.Running}}", self.container],
            timeout=CONTROL_TIMEOUT,
            check=False,
        )
        return done.returncode == 0 and done.text.strip() == "true"

    def _podman(self, args: Sequence[str], *, input: bytes | None = None) -> process.Completed:
        try:
            return self.storage.run(["podman", *args], timeout=CONTROL_TIMEOUT, input=input)
        except process.CommandError as exc:
            raise InstanceError(f"podman {args[0]} on {self.container} failed: {exc}") from exc

    def _kill_marked(self, marker: str) -> list[int]:
        """SIGKILL the container's processes carrying the marker, and their descendants."""
        needle = f"{MARKER_VAR}={marker}".encode()
        killed: list[int] = []
        for _ in range(10):  # repeat: a process may fork between listing and killing
            parents = self._host_processes()
            doomed = {pid for pid in parents if needle in _environ(pid).split(b"\0")}
            grew = True
            while grew:
                more = {pid for pid, ppid in parents.items() if ppid in doomed} - doomed
                doomed |= more
                grew = bool(more)
            if not doomed:
                return killed
            for pid in doomed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            killed += sorted(doomed)
            time.sleep(0.05)
        return killed

    def _host_processes(self) -> dict[int, int]:
        """Host pid → host parent pid, for every process in the container."""
        done = self.storage.run(
            ["podman", "top", self.container, "hpid"], timeout=CONTROL_TIMEOUT, check=False
        )
        result: dict[int, int] = {}
        for line in done.text.splitlines()[1:]:
            token = line.strip()
            if token.isdigit():
                ppid = _parent_pid(int(token))
                if ppid is not None:
                    result[int(token)] = ppid
        return result


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid ...; comm may contain spaces and parentheses
    return int(stat.rsplit(")", 1)[1].split()[1])
