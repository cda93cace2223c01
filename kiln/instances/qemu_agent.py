"""The Communicator of QEMU instances: qemu-guest-agent over a virtio-serial port.

QEMU connects the guest's port `org.qemu.guest_agent.0` to a unix socket on the host; the agent
speaks line-delimited JSON on it. `GuestAgent` is that wire: `guest-sync-delimited` handshakes
(the reply comes after a 0xFF byte, which also resets the agent's parser), commands with a
deadline each, a fresh connection and handshake after any timeout so a late reply is never
taken for the next one.

`QemuCommunicator` maps the port onto it:
- exec: `guest-exec` of `/bin/sh -c WRAPPER`, which cds, runs argv under
  `timeout --kill-after=5 SECS` in the guest (it kills the command's whole process group) and sends
  stdout+stderr, merged and in order, to a log in /run; the host polls `guest-exec-status` and reads
  the log with `guest-file-read` as it grows, so output streams while the command runs;
- upload/download: `guest-file-open/write/read/close` in base64 chunks;
- reboot: `guest-shutdown mode=reboot`, then wait until the agent answers with a new boot id
  (as long as the launcher waits for a boot: its boot_timeout).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kiln.toe.communicator import CommunicatorError, ExecOutcome, OutputSink

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 30.0
HANDSHAKE_TIMEOUT = 3.0
POLL_INTERVAL = 0.1
KILL_GRACE = 15.0  # beyond the in-guest `timeout --kill-after=5`
CHUNK = 1024 * 1024
REBOOT_TIMEOUT = 600.0
BOOT_ID = "/proc/sys/kernel/random/boot_id"
EXEC_LOG_DIR = "/run/kiln-exec"
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WRAPPER = """\
log=$1 dir=$2 secs=$3
shift 3
mkdir -p "${log%/*}" && : >"$log" || exit 125
if [ -n "$dir" ]; then cd "$dir" || exit 125; fi
if [ -n "$secs" ]; then exec timeout --kill-after=5 "$secs" "$@" >>"$log" 2>&1; fi
exec "$@" >>"$log" 2>&1
"""


class AgentError(CommunicatorError):
    """The guest agent did not answer in time, or answered with an error."""


class GuestAgent:
    """A qemu-guest-agent session on a host unix socket. Thread-safe; reconnects on demand."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.close()
            self._sock = None
            self._buffer = b""

    def wait_ready(self, timeout: float, *, alive: Callable[[], bool] | None = None) -> float:
        """Handshake until the agent answers; returns the seconds waited.

        `alive` is asked between attempts: once it says the VM is gone, waiting stops.
        """
        started = time.monotonic()
        deadline = started + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if alive is not None and not alive():
                raise AgentError(f"the VM behind {self.socket_path} is gone")
            try:
                self.handshake(min(HANDSHAKE_TIMEOUT, max(0.1, deadline - time.monotonic())))
                return time.monotonic() - started
            except (AgentError, OSError) as exc:
                last = exc
                self.close()
                time.sleep(0.2)
        raise AgentError(f"guest agent at {self.socket_path} not ready after {timeout:g}s: {last}")

    def handshake(self, timeout: float = HANDSHAKE_TIMEOUT) -> None:
        with self._lock:
            sock = self._connected()
            token = secrets.randbelow(2**31)
            request = {"execute": "guest-sync-delimited", "arguments": {"id": token}}
            sock.sendall(b"\xff" + json.dumps(request).encode() + b"\n")
            deadline = time.monotonic() + timeout
            while True:
                reply = self._read_message(deadline, after_delimiter=True)
                if reply.get("return") == token:
                    return

    def call(
        self,
        command: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float = CALL_TIMEOUT,
    ) -> Any:
        """Send one command and return its `return` value."""
        with self._lock:
            if self._sock is None:
                self.handshake()
            sock = self._connected()
            request: dict[str, Any] = {"execute": command}
            if arguments:
                request["arguments"] = dict(arguments)
            try:
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = self._read_message(time.monotonic() + timeout)
            except (OSError, AgentError) as exc:
                self.close()
                raise AgentError(f"guest agent {command}: {exc}") from exc
            if "error" in reply:
                err = reply["error"]
                raise AgentError(f"guest agent {command}: {err.get('class')}: {err.get('desc')}")
            return reply.get("return")

    def send(self, command: str, arguments: Mapping[str, Any] | None = None) -> None:
        """Send a command that answers nothing on success (guest-shutdown)."""
        with self._lock:
            if self._sock is None:
                self.handshake()
            request: dict[str, Any] = {"execute": command}
            if arguments:
                request["arguments"] = dict(arguments)
            self._connected().sendall(json.dumps(request).encode() + b"\n")
            self.close()

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
            except OSError as exc:
                sock.close()
                raise AgentError(f"cannot connect to {self.socket_path}: {exc}") from exc
            self._sock = sock
            self._buffer = b""
        return self._sock

    def _read_message(self, deadline: float, *, after_delimiter: bool = False) -> dict[str, Any]:
        sock = self._connected()
        if after_delimiter:
            while b"\xff" not in self._buffer:
                self._buffer = self._recv(sock, deadline)
            self._buffer = self._buffer.rsplit(b"\xff", 1)[1]
        while True:
            line, sep, rest = self._buffer.partition(b"\n")
            if sep:
                self._buffer = rest
                line = line.replace(b"\xff", b"").strip()
                if not line:
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # noise from a previous session
                if isinstance(message, dict) and ("return" in message or "error" in message):
                    return message
                continue
            self._buffer = self._recv(sock, deadline)

    def _recv(self, sock: socket.socket, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AgentError("no reply before the deadline")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AgentError("no reply before the deadline") from None
        if not chunk:
            raise AgentError("connection closed")
        return self._buffer + chunk


class QemuCommunicator:
    """The Communicator port over a guest agent."""

    def __init__(self, agent: GuestAgent, *, reboot_timeout: float = REBOOT_TIMEOUT) -> None:
        self.agent = agent
        self.reboot_timeout = reboot_timeout
        """How long a reboot may take to answer again: the launcher's boot timeout."""

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
        if not argv:
            raise CommunicatorError("exec needs a command")
        log = f"{EXEC_LOG_DIR}/{secrets.token_hex(8)}.log"
        secs = "" if timeout is None else str(max(1, math.ceil(timeout)))
        environment = {"PATH": GUEST_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        arguments: dict[str, Any] = {
            "path": "/bin/sh",
            "arg": ["-c", WRAPPER, "kiln-exec", log, cwd or "", secs, *argv],
            "env": [f"{k}={v}" for k, v in environment.items()],
            "capture-output": True,
        }
        if stdin is not None:
            arguments["input-data"] = base64.b64encode(stdin).decode()
        started = time.monotonic()
        pid = int(self.agent.call("guest-exec", arguments)["pid"])
        status = self._follow(pid, log, on_output, timeout, started)
        for key in ("out-data", "err-data"):  # the wrapper's own complaints, if any
            if status.get(key):
                on_output(base64.b64decode(status[key]))
        self._discard(log)
        if "exitcode" in status:
            code = int(status["exitcode"])
        else:
            code = 128 + int(status.get("signal", 9))
        elapsed = time.monotonic() - started
        timed_out = timeout is not None and elapsed >= timeout and code in (124, 137)
        return ExecOutcome(exit_code=code, timed_out=timed_out or bool(status.get("kiln-killed")))

    def _follow(
        self, pid: int, log: str, on_output: OutputSink, timeout: float | None, started: float
    ) -> dict[str, Any]:
        handle: int | None = None
        killed = False
        try:
            while True:
                status: dict[str, Any] = self.agent.call("guest-exec-status", {"pid": pid})
                if handle is None:
                    handle = self._open_quietly(log)
                if handle is not None:
                    self._drain(handle, on_output)
                if status.get("exited"):
                    if handle is None:
                        handle = self._open_quietly(log)
                    if handle is not None:
                        self._drain(handle, on_output)
                    if killed:
                        status["kiln-killed"] = True
                    return status
                overdue = timeout is not None and time.monotonic() - started > timeout + KILL_GRACE
                if overdue and not killed:
                    logger.warning("guest command %d outlived its timeout; killing it", pid)
                    self._kill(pid)
                    killed = True
                time.sleep(POLL_INTERVAL)
        finally:
            if handle is not None:
                with contextlib.suppress(AgentError):
                    self.agent.call("guest-file-close", {"handle": handle})

    def _open_quietly(self, path: str) -> int | None:
        try:
            return int(self.agent.call("guest-file-open", {"path": path, "mode": "r"}))
        except AgentError:
            return None

    def _drain(self, handle: int, on_output: OutputSink) -> None:
        while True:
            chunk = self.agent.call("guest-file-read", {"handle": handle, "count": CHUNK})
            data = base64.b64decode(chunk.get("buf-b64", ""))
            if data:
                on_output(data)
            if not data or len(data) < CHUNK:
                return

    def _kill(self, pid: int) -> None:
        for target in (f"-{pid}", str(pid)):
            with contextlib.suppress(AgentError):
                self.agent.call("guest-exec", {"path": "/bin/kill", "arg": ["-KILL", "--", target]})

    def _discard(self, path: str) -> None:
        with contextlib.suppress(AgentError):
            self.agent.call("guest-exec", {"path": "/bin/rm", "arg": ["-f", path]})

    def _run_checked(self, argv: Sequence[str], what: str) -> None:
        output = bytearray()
        outcome = self.exec(argv, on_output=output.extend, timeout=CALL_TIMEOUT)
        if outcome.exit_code != 0:
            text = output.decode("utf-8", "replace").strip()
            raise CommunicatorError(f"{what} failed ({outcome.exit_code}): {text[-500:]}")

    def upload(self, local: Path, remote: str) -> None:
        if not remote.startswith("/"):
            raise CommunicatorError(f"remote path must be absolute: {remote!r}")
        parent = remote.rsplit("/", 1)[0] or "/"
        self._run_checked(["mkdir", "-p", parent], f"mkdir {parent}")
        handle = int(self.agent.call("guest-file-open", {"path": remote, "mode": "wb"}))
        try:
            with local.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    encoded = base64.b64encode(chunk).decode()
                    self.agent.call("guest-file-write", {"handle": handle, "buf-b64": encoded})
        finally:
            self.agent.call("guest-file-close", {"handle": handle})

    def download(self, remote: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        handle = int(self.agent.call("guest-file-open", {"path": remote, "mode": "rb"}))
        try:
            with local.open("wb") as fh:
                while True:
                    chunk = self.agent.call("guest-file-read", {"handle": handle, "count": CHUNK})
                    fh.write(base64.b64decode(chunk.get("buf-b64", "")))
                    if chunk.get("eof") or not chunk.get("count"):
                        break
        finally:
            self.agent.call("guest-file-close", {"handle": handle})

    def boot_id(self) -> str:
        handle = int(self.agent.call("guest-file-open", {"path": BOOT_ID, "mode": "r"}))
        try:
            chunk = self.agent.call("guest-file-read", {"handle": handle, "count": 4096})
        finally:
            self.agent.call("guest-file-close", {"handle": handle})
        return base64.b64decode(chunk.get("buf-b64", "")).decode().strip()

    def reboot(self, timeout: float | None = None) -> None:
        """Reboot and wait (`timeout`, else `reboot_timeout`) for the agent of the new boot."""
        timeout = self.reboot_timeout if timeout is None else timeout
        before = self.boot_id()
        self.agent.send("guest-shutdown", {"mode": "reboot"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.agent.wait_ready(max(1.0, deadline - time.monotonic()))
                if self.boot_id() != before:
                    return
            except AgentError:
                pass
            self.agent.close()
            time.sleep(1.0)
        raise AgentError(f"the guest did not come back from reboot within {timeout:g}s")
