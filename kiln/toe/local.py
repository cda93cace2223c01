"""LocalCommunicator: the host itself is the instance (for `kiln toe run`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from kiln import process
from kiln.toe.communicator import CommunicatorError, ExecOutcome, OutputSink

COMMAND_NOT_FOUND = 127


class LocalCommunicator:
    """Runs commands on this host through kiln.process; reboot is refused."""

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
        merged = {**os.environ, **env} if env is not None else None
        try:
            code, timed_out = process.stream(
                argv, on_output=on_output, timeout=timeout, env=merged, cwd=cwd, stdin=stdin
            )
        except process.CommandError as exc:
            on_output(f"{exc}\n".encode())
            return ExecOutcome(exit_code=COMMAND_NOT_FOUND)
        return ExecOutcome(exit_code=code, timed_out=timed_out)

    def upload(self, local: Path, remote: str) -> None:
        target = _absolute(remote)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
        except OSError as exc:
            raise CommunicatorError(f"cannot write {remote}: {exc.strerror or exc}") from exc

    def download(self, remote: str, local: Path) -> None:
        try:
            shutil.copyfile(_absolute(remote), local)
        except OSError as exc:
            raise CommunicatorError(f"cannot read {remote}: {exc.strerror or exc}") from exc

    def reboot(self) -> None:
        raise CommunicatorError(
            "rebooting is not supported when running on the local host; "
            "run the document in a build instance (podman or QEMU) instead"
        )


def _absolute(remote: str) -> Path:
    path = Path(remote)
    if not path.is_absolute():
        raise CommunicatorError(f"instance paths must be absolute: {remote!r}")
    return path
