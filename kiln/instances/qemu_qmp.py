"""QEMU's machine protocol (QMP) on a host unix socket: just enough to stop a VM cleanly.

One short session per request: connect, read the greeting, `qmp_capabilities`, the command,
its reply (asynchronous events in between are skipped), close.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.instances.base import InstanceError

QMP_TIMEOUT = 10.0


class QmpError(InstanceError):
    """The QMP socket did not answer, or answered with an error."""


def qmp_command(
    socket_path: Path,
    command: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    timeout: float = QMP_TIMEOUT,
) -> Any:
    """Run one QMP command and return its `return` value."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            reader = sock.makefile("rb")
            _read_until(reader, "QMP", deadline)
            sock.sendall(json.dumps({"execute": "qmp_capabilities"}).encode() + b"\n")
            _reply(reader, deadline)
            request: dict[str, Any] = {"execute": command}
            if arguments:
                request["arguments"] = dict(arguments)
            sock.sendall(json.dumps(request).encode() + b"\n")
            return _reply(reader, deadline)
        except (OSError, ValueError) as exc:
            raise QmpError(f"QMP {command} on {socket_path}: {exc}") from exc


def _reply(reader: Any, deadline: float) -> Any:
    message = _read_until(reader, None, deadline)
    if "error" in message:
        err = message["error"]
        raise QmpError(f"QMP: {err.get('class')}: {err.get('desc')}")
    return message.get("return")


def _read_until(reader: Any, key: str | None, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        line = reader.readline()
        if not line:
            raise QmpError("QMP connection closed")
        message = json.loads(line)
        if key is not None and key in message:
            return dict(message)
        if key is None and ("return" in message or "error" in message):
            return dict(message)
    raise QmpError("QMP reply timed out")
