"""The one way Kiln runs external commands: argv lists only, a timeout always, the argv logged.

`run` captures output; `stream` hands output to a sink as it arrives and, on timeout, kills the
whole process tree (the command runs in its own session). No shell is ever involved here: the
only shell in Kiln is a user's ExecuteBash script, run by bash inside a build instance.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kiln.core.errors import KilnError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0


class CommandError(KilnError):
    """A command could not be started, failed, or ran past its timeout."""

    def __init__(
        self, message: str, *, argv: Sequence[str], returncode: int | None, output: str = ""
    ) -> None:
        super().__init__(message)
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Completed:
    """Run argv to completion and capture its output."""
    argv = [str(a) for a in argv]
    logger.debug("run: %s", argv)
    try:
        proc = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            check=False,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise CommandError(f"command not found: {argv[0]}", argv=argv, returncode=None) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(
            f"timed out after {timeout:g}s: {' '.join(argv)}", argv=argv, returncode=None
        ) from exc
    done = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise CommandError(
            f"{argv[0]} exited with {proc.returncode}: {err[-2000:]}",
            argv=argv,
            returncode=proc.returncode,
            output=err,
        )
    return done


def stream(
    argv: Sequence[str],
    *,
    on_output: Callable[[bytes], None],
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdin: bytes | None = None,
) -> tuple[int, bool]:
    """Run argv, passing merged stdout/stderr chunks to on_output as they come.

    Returns (exit code, timed_out). On timeout the whole process group is killed.
    """
    argv = [str(a) for a in argv]
    logger.debug("stream: %s", argv)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise CommandError(f"command not found: {argv[0]}", argv=argv, returncode=None) from exc
    assert proc.stdout is not None
    if stdin is not None and proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin)
        proc.stdin.close()
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait == 0.0:
                timed_out = True
                break
            if not sel.select(timeout=wait):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            on_output(chunk)
    if timed_out:
        kill_tree(proc)
    else:
        remaining = None if deadline is None else max(0.1, deadline - time.monotonic())
        try:
            proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_tree(proc)
    proc.stdout.close()
    return proc.returncode, timed_out


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process's whole session (it was started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
