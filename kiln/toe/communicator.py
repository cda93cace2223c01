"""The Communicator port: the only way the component runner reaches a build instance.

Implementations are named by mechanism: LocalCommunicator (the host, for `kiln toe run`),
FakeCommunicator (tests), and in the build layers PodmanCommunicator and QemuCommunicator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kiln.core.errors import KilnError


class CommunicatorError(KilnError):
    """The instance could not be reached, a transfer failed, or an operation is unsupported."""


OutputSink = Callable[[bytes], None]
"""Receives output chunks as they are produced (stdout and stderr merged, in order)."""


@dataclass(frozen=True)
class ExecOutcome:
    """How a command ended. `timed_out` means the process tree was killed at the deadline."""

    exit_code: int
    timed_out: bool = False


class Communicator(Protocol):
    """Exec with streamed output and exit code, file transfer, reboot."""

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
        """Run argv on the instance; no shell is involved unless argv names one."""
        ...

    def upload(self, local: Path, remote: str) -> None:
        """Copy a host file to an absolute path on the instance (parents created)."""
        ...

    def download(self, remote: str, local: Path) -> None:
        """Copy a file from the instance to the host."""
        ...

    def reboot(self) -> None:
        """Reboot the instance and return once it accepts exec again."""
        ...
