"""What an action module sees: the instance (through the Communicator), a deadline, the console.

Modules raise ActionFailed with a message for the step's failureMessage; the context raises
StepTimedOut when the step's deadline passes (the command's process tree is killed by the
communicator) and modules raise RebootRequested for exit code 194 and the Reboot action.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from kiln.core.errors import KilnError
from kiln.toe.communicator import Communicator, OutputSink
from kiln.toe.objectstore import ObjectStore

OUTPUT_TAIL_BYTES = 1 << 20
"""`stdout` outputs keep the last 1 MiB of a command's output; the whole output streams to
console.log. (AWS caps what it keeps in step outputs too; 1 MiB keeps chaining useful while a
step printing gigabytes costs no memory.)"""


class ActionFailed(Exception):
    """The module failed; the message becomes the step's failureMessage."""


class StepTimedOut(Exception):
    """The step ran past its timeoutSeconds."""


class RebootRequested(Exception):
    """The instance must reboot. rerun: run this step again afterwards (exit 194); otherwise the
    step succeeded (the Reboot action) and the run continues with the next step."""

    def __init__(self, *, rerun: bool) -> None:
        super().__init__("reboot requested")
        self.rerun = rerun


class Tail:
    """The last `cap` bytes written to it."""

    def __init__(self, cap: int = OUTPUT_TAIL_BYTES) -> None:
        self.cap = cap
        self._chunks: list[bytes] = []
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > 2 * self.cap:
            self._compact()

    def _compact(self) -> None:
        joined = b"".join(self._chunks)[-self.cap :]
        self._chunks = [joined]
        self._size = len(joined)

    def bytes(self) -> bytes:
        self._compact()
        return self._chunks[0] if self._chunks else b""

    def text(self) -> str:
        return self.bytes().decode("utf-8", "replace").rstrip("\r\n")


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str


Nested = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass
class ActionContext:
    """One step iteration's view of the run."""

    action: str
    communicator: Communicator
    console: OutputSink
    work_dir: str  # on the instance, private to this step iteration
    scratch: Path  # on the host, private to this run
    deadline: float | None  # time.monotonic() value
    object_store: ObjectStore | None = None
    log: Callable[[str], None] = lambda _line: None
    nested: Nested | None = None
    tail_bytes: int = OUTPUT_TAIL_BYTES
    details: list[Any] = field(default_factory=list)  # nested documents' detailed output

    def fail(self, message: str) -> NoReturn:
        raise ActionFailed(f"{self.action}: {message}")

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StepTimedOut()
        return left

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        quiet: bool = False,
    ) -> Ran:
        """Exec argv on the instance, streaming its output to the console (unless quiet)."""
        tail = Tail(self.tail_bytes)

        def sink(chunk: bytes) -> None:
            tail.write(chunk)
            if not quiet:
                self.console(chunk)

        self.log(f"exec {list(argv)!r}")
        outcome = self.communicator.exec(
            argv, on_output=sink, timeout=self.remaining(), env=env, stdin=stdin
        )
        if outcome.timed_out:
            raise StepTimedOut()
        ran = Ran(outcome.exit_code, tail.text())
        if check and ran.exit_code != 0:
            last = ran.output.strip().splitlines()[-3:]
            detail = ": " + " / ".join(last) if last else ""
            self.fail(f"'{argv[0]}' exited with code {ran.exit_code}{detail}")
        return ran

    def test(self, flag: str, path: str) -> bool:
        """`test -<flag> path` on the instance (flag: e, f, d, L, ...)."""
        return self.run(["test", f"-{flag}", path], check=False, quiet=True).exit_code == 0

    @contextlib.contextmanager
    def host_file(self, data: bytes | None = None) -> Iterator[Path]:
        """A temporary host file (holding `data`, if given), removed afterwards."""
        fd, name = tempfile.mkstemp(dir=self.scratch)
        os.close(fd)
        path = Path(name)
        try:
            if data is not None:
                path.write_bytes(data)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def upload(self, local: Path, remote: str) -> None:
        try:
            self.communicator.upload(local, remote)
        except (OSError, KilnError) as exc:
            self.fail(f"cannot write {remote}: {exc}")

    def download(self, remote: str, local: Path) -> None:
        try:
            self.communicator.download(remote, local)
        except (OSError, KilnError) as exc:
            self.fail(f"cannot read {remote}: {exc}")


def text_input(item: Mapping[str, Any], key: str, default: str = "") -> str:
    value = item.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def bool_input(item: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = item.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"
