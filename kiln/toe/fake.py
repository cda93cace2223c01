"""FakeCommunicator: records every call, answers from a script, simulates reboots.

Without a delegate, files live in memory (`files`) and commands answer exit 0 unless a rule
matches. With a delegate (e.g. a LocalCommunicator on a temp dir), unmatched calls pass through,
so a test can combine real commands with scripted exit codes and simulated reboots.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kiln.toe.communicator import Communicator, CommunicatorError, ExecOutcome, OutputSink


@dataclass(frozen=True)
class Scripted:
    """One scripted answer to exec."""

    exit_code: int = 0
    output: bytes = b""
    timed_out: bool = False


@dataclass(frozen=True)
class ExecCall:
    argv: tuple[str, ...]
    env: Mapping[str, str] | None
    cwd: str | None
    stdin: bytes | None
    timeout: float | None


Matcher = Callable[[tuple[str, ...]], bool]


@dataclass
class _Rule:
    matches: Matcher
    answers: deque[Scripted]


@dataclass
class FakeCommunicator:
    delegate: Communicator | None = None
    calls: list[ExecCall] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    reboots: int = 0
    reboot_error: str | None = None
    on_reboot: Callable[[], None] | None = None
    _rules: list[_Rule] = field(default_factory=list)

    def on(self, match: Sequence[str] | Matcher, *answers: Scripted | int) -> None:
        """Answer execs whose argv starts with `match` (or satisfies it) with `answers`
        in turn; the last answer repeats."""
        if callable(match):
            matcher = match
        else:
            prefix = tuple(match)

            def matcher(argv: tuple[str, ...]) -> bool:
                return argv[: len(prefix)] == prefix

        queue = deque(a if isinstance(a, Scripted) else Scripted(exit_code=a) for a in answers)
        self._rules.append(_Rule(matcher, queue or deque([Scripted()])))

    def argvs(self) -> list[tuple[str, ...]]:
        return [call.argv for call in self.calls]

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
        key = tuple(str(a) for a in argv)
        self.calls.append(ExecCall(key, env, cwd, stdin, timeout))
        for rule in self._rules:
            if rule.matches(key):
                answer = rule.answers.popleft() if len(rule.answers) > 1 else rule.answers[0]
                if answer.output:
                    on_output(answer.output)
                return ExecOutcome(exit_code=answer.exit_code, timed_out=answer.timed_out)
        if self.delegate is not None:
            return self.delegate.exec(
                argv, on_output=on_output, timeout=timeout, env=env, cwd=cwd, stdin=stdin
            )
        return ExecOutcome(exit_code=0)

    def upload(self, local: Path, remote: str) -> None:
        self.files[remote] = local.read_bytes()
        if self.delegate is not None:
            self.delegate.upload(local, remote)

    def download(self, remote: str, local: Path) -> None:
        if self.delegate is not None:
            self.delegate.download(remote, local)
        elif remote in self.files:
            local.write_bytes(self.files[remote])
        else:
            raise CommunicatorError(f"cannot read {remote}: no such file")

    def reboot(self) -> None:
        if self.reboot_error is not None:
            raise CommunicatorError(self.reboot_error)
        self.reboots += 1
        if self.on_reboot is not None:
            self.on_reboot()
