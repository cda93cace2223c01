"""Results of a run: step, phase, document and run records, in detailedoutput.json's shape."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUCCESS = "success"
FAILED = "failed"
IGNORED = "IgnoredFailure"
SKIPPED = "skipped"
SUCCESS_WITH_IGNORED = "SuccessWithIgnoredFailure"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def rollup(statuses: Iterable[str]) -> str:
    """A phase's, document's or run's status from its parts' statuses."""
    seen = set(statuses)
    if FAILED in seen:
        return FAILED
    if IGNORED in seen or SUCCESS_WITH_IGNORED in seen:
        return SUCCESS_WITH_IGNORED
    return SUCCESS


def as_text(value: Any) -> str:
    """How a value reads when chained into a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


@dataclass(frozen=True)
class StepResult:
    name: str
    action: str
    status: str
    start_time: str
    end_time: str
    timeout_seconds: int
    on_failure: str
    max_attempts: int
    attempts: int = 0
    failure_message: str = ""
    inputs: Sequence[Any] = ()
    outputs: Mapping[str, Any] = field(default_factory=dict)
    loop: Mapping[str, Any] | None = None
    detailed_output: Sequence[Any] | None = None

    def detailed(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status, "failureMessage": self.failure_message,
            "timeoutSeconds": self.timeout_seconds, "onFailure": self.on_failure,
            "maxAttempts": self.max_attempts, "attempts": self.attempts, "action": self.action,
            "startTime": self.start_time, "endTime": self.end_time,
            "inputs": json.dumps(list(self.inputs)),
            "outputs": json.dumps([dict(self.outputs)] if self.outputs else []),
            "loop": dict(self.loop) if self.loop is not None else None,
            "detailedOutput": list(self.detailed_output) if self.detailed_output else None,
        }  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        record = self.detailed()
        record["inputs"], record["outputs"] = list(self.inputs), dict(self.outputs)
        return record

    @classmethod
    def from_state(cls, record: Mapping[str, Any]) -> StepResult:
        return cls(
            name=record["name"], action=record["action"], status=record["status"],
            start_time=record["startTime"], end_time=record["endTime"],
            timeout_seconds=record["timeoutSeconds"], on_failure=record["onFailure"],
            max_attempts=record["maxAttempts"], attempts=record.get("attempts", 0),
            failure_message=record.get("failureMessage", ""), inputs=record.get("inputs", []),
            outputs=record.get("outputs", {}), loop=record.get("loop"),
            detailed_output=record.get("detailedOutput"),
        )  # fmt: skip


@dataclass
class PhaseResult:
    name: str
    start_time: str = field(default_factory=now)
    end_time: str = ""
    steps: list[StepResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        return rollup(step.status for step in self.steps)

    @property
    def failure_message(self) -> str:
        return "; ".join(f"{s.name}: {s.failure_message}" for s in self.steps if s.status == FAILED)

    def detailed(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status, "startTime": self.start_time,
            "endTime": self.end_time, "failureMessage": self.failure_message,
            "steps": [step.detailed() for step in self.steps],
        }  # fmt: skip


@dataclass
class DocumentResult:
    name: str
    file_path: str
    description: str
    start_time: str = field(default_factory=now)
    end_time: str = ""
    phases: list[PhaseResult] = field(default_factory=list)
    error: str = ""

    @property
    def status(self) -> str:
        return FAILED if self.error else rollup(phase.status for phase in self.phases)

    @property
    def failure_message(self) -> str:
        parts = [self.error] if self.error else []
        parts += [f"{p.name}: {p.failure_message}" for p in self.phases if p.status == FAILED]
        return "; ".join(parts)

    def steps(self) -> list[StepResult]:
        return [step for phase in self.phases for step in phase.steps]

    def detailed(self) -> dict[str, Any]:
        return {
            "name": self.name, "filePath": self.file_path, "status": self.status,
            "description": self.description, "startTime": self.start_time,
            "endTime": self.end_time, "failureMessage": self.failure_message,
            "phases": [phase.detailed() for phase in self.phases],
        }  # fmt: skip


@dataclass(frozen=True)
class RunResult:
    """The outcome of run_documents: status, counts and where the logs are."""

    execution_id: str
    status: str
    log_url: Path
    start_time: str
    end_time: str
    documents: tuple[DocumentResult, ...]

    @property
    def succeeded(self) -> bool:
        return self.status != FAILED

    def _steps(self) -> list[StepResult]:
        return [step for doc in self.documents for step in doc.steps()]

    @property
    def executed_step_count(self) -> int:
        return sum(1 for step in self._steps() if step.status != SKIPPED)

    @property
    def failed_step_count(self) -> int:
        return sum(1 for step in self._steps() if step.status == FAILED)

    @property
    def ignored_failed_step_count(self) -> int:
        return sum(1 for step in self._steps() if step.status == IGNORED)

    @property
    def failure_message(self) -> str:
        return "; ".join(d.failure_message for d in self.documents if d.status == FAILED)

    def summary(self) -> dict[str, Any]:
        """What `kiln toe run` prints and ExecuteDocument returns as its `outputs`."""
        return {
            "executedStepCount": self.executed_step_count, "executionId": self.execution_id,
            "failedStepCount": self.failed_step_count, "failureMessage": self.failure_message,
            "ignoredFailedStepCount": self.ignored_failed_step_count,
            "logUrl": str(self.log_url), "status": self.status,
        }  # fmt: skip

    def detailed(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id, "status": self.status,
            "startTime": self.start_time, "endTime": self.end_time,
            "failureMessage": self.failure_message,
            "documents": [doc.detailed() for doc in self.documents],
        }  # fmt: skip
