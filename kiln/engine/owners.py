"""Lease owners: who holds a work item, and whether that process is gone.

An owner is ``host:pid:start:nonce``: the host name, the process id, the process's start time
(clock ticks since boot, /proc/<pid>/stat field 22) and a nonce per executor. A restarted Kiln
can then tell at once, without waiting for the lease, that an owner of its own host is dead:
its pid no longer exists, is a zombie nobody reaped, or now belongs to another process (same
pid, other start time; in a container Kiln is often PID 1 again after a restart). Owners of
other hosts are alive until their lease lapses. The older ``host:pid:nonce`` form is read too.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

PROC = Path("/proc")


def new_owner(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    start = process_start(pid)
    return (
        f"{socket.gethostname()}:{pid}:{start if start is not None else ''}:{uuid.uuid4().hex[:8]}"
    )


def is_dead(owner: str | None) -> bool:
    """True when the owner is a process of this host that no longer runs."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    fields = rest.split(":")
    if host != socket.gethostname() or not fields[0].isdigit():
        return False
    pid = int(fields[0])
    recorded = fields[1] if len(fields) >= 3 else ""  # the older form has no start time
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's process: the pid exists
    state, start = _stat(pid)
    if state == "Z":
        return True
    return bool(recorded.isdigit() and start is not None and int(recorded) != start)


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None where /proc cannot say."""
    return _stat(pid)[1]


def _stat(pid: int) -> tuple[str | None, int | None]:
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    after = text.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    if len(after) < 20 or not after[19].isdigit():
        return None, None
    return after[0], int(after[19])  # fields 3 (state) and 22 (starttime)
