"""Runs one workflow document of a build, step by step, each step a visible step execution.

Re-entrant: the steps already recorded for the execution are not run again (their outputs feed
``$.stepOutputs``), so a build parked on WaitForAction resumes where it stopped. A step whose
action fails with onFailure Abort fails the workflow and rolls back, in reverse order starting
with the failed step, every step whose action supports rollback (rollbackEnabled permitting).
A step runs in a helper thread so its timeout and the image's cancellation are honoured: on
either, the build's instances are removed, which ends whatever the step was waiting for.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kiln.core.clock import utcnow
from kiln.core.errors import BuildError, KilnError
from kiln.core.ids import prefixed_uuid
from kiln.engine import executions
from kiln.engine.actions import HANDLERS, StepRun
from kiln.engine.context import BuildRun
from kiln.engine.executions import ExecutionStatus, RollbackStatus, StepStatus
from kiln.engine.logs import step_log_dir
from kiln.engine.plan import PlannedWorkflow
from kiln.store.engine_schema import StepExecutionRow, WorkflowExecutionRow
from kiln.workflow import (
    OnFailure,
    ParameterType,
    WorkflowDocument,
    WorkflowStep,
    WorkflowType,
    evaluate_condition,
    parse_path,
    parse_workflow,
)


class Outcome(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    WAITING = "WAITING"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class WorkflowResult:
    outcome: Outcome
    message: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


class StepCancelledError(KilnError):
    """The image was cancelled while the step ran."""


class StepTimedOutError(BuildError):
    pass


@dataclass
class _Done:
    index: int
    step: WorkflowStep
    row_id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


def parameters_for(document: WorkflowDocument, given: Mapping[str, Any]) -> dict[str, Any]:
    """Document parameters: defaults, overridden by the configuration's (lists of strings)."""
    values: dict[str, Any] = {}
    for parameter in document.parameters:
        if parameter.name in given:
            raw = given[parameter.name]
            items = raw if isinstance(raw, list) else [raw]
            values[parameter.name] = _typed(parameter.type, items)
        elif parameter.has_default:
            values[parameter.name] = parameter.default
        else:
            raise BuildError(f"workflow parameter '{parameter.name}' has no value")
    return values


def _typed(kind: ParameterType, items: list[Any]) -> Any:
    if kind is ParameterType.STRING_LIST:
        return [str(i) for i in items]
    first = items[0] if items else ""
    if kind is ParameterType.BOOLEAN:
        return str(first).lower() == "true" if not isinstance(first, bool) else first
    if kind is ParameterType.INTEGER:
        return int(first)
    return str(first)


class WorkflowRunner:
    def __init__(
        self, run: BuildRun, planned: PlannedWorkflow, position: int, earlier: Mapping[str, Any]
    ) -> None:
        self.run = run
        self.planned = planned
        self.position = position
        self.document = parse_workflow(planned.data, workflow_type=WorkflowType(planned.type))
        self.context: dict[str, Any] = {
            "parameters": parameters_for(self.document, planned.parameters),
            "stepOutputs": {},
            "workflowOutputs": dict(earlier),
            "imagebuilder": run.variables(planned.type),
        }
        self.execution_id = self._execution()

    # -- records ---------------------------------------------------------------------------

    def _execution(self) -> str:
        with self.run.database.transaction() as session:
            for row in executions.executions_of(session, self.run.image_arn):
                if row.position == self.position:
                    return row.id
            return executions.new_execution(
                session,
                account=self.run.account,
                region=self.run.region,
                image_arn=self.run.image_arn,
                workflow_arn=self.planned.arn,
                position=self.position,
                workflow_type=self.planned.type,
                total_steps=len(self.document.steps),
                parallel_group=self.planned.parallel_group,
                now=utcnow(),
            ).id

    def _steps(self) -> dict[int, StepExecutionRow]:
        with self.run.database.transaction() as session:
            return {row.position: row for row in executions.steps_of(session, self.execution_id)}

    def _update_step(self, step_id: str, **values: Any) -> None:
        with self.run.database.transaction() as session:
            row = session.get(StepExecutionRow, step_id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            execution = session.get(WorkflowExecutionRow, self.execution_id)
            assert execution is not None
            session.flush()
            executions.recount(session, execution)

    def _new_step(self, index: int, step: WorkflowStep) -> str:
        with self.run.database.transaction() as session:
            row = StepExecutionRow(
                id=prefixed_uuid("step"),
                execution_id=self.execution_id,
                image_arn=self.run.image_arn,
                account=self.run.account,
                position=index,
                name=step.name,
                description=step.description,
                action=step.action.name,
                status=StepStatus.RUNNING.value,
                on_failure=step.on_failure.value,
                timeout_seconds=step.timeout_seconds,
                start_time=utcnow(),
                message=self._logs_note(step),
            )
            session.add(row)
            return row.id

    def _logs_note(self, step: WorkflowStep) -> str | None:
        """Where the step's logs are written, for GetWorkflowStepExecution's message."""
        handler = HANDLERS.get(step.action.name)
        if handler is None or not handler.logs:
            return None
        folder = step_log_dir(self.run.log_root, self.planned.type, step.name)
        return f"Logs: {folder} (kiln images logs {self.run.image_arn} --follow)"

    def _finish(self, status: ExecutionStatus, message: str | None = None) -> None:
        with self.run.database.transaction() as session:
            execution = session.get(WorkflowExecutionRow, self.execution_id)
            assert execution is not None
            execution.status = status.value
            execution.message = message
            execution.end_time = utcnow()
            executions.recount(session, execution)

    # -- running ---------------------------------------------------------------------------

    def execute(self) -> WorkflowResult:
        recorded = self._steps()
        done: list[_Done] = []
        for index, step in enumerate(self.document.steps):
            row = recorded.get(index)
            if row is not None and row.status != StepStatus.RUNNING:
                outputs = executions.loads(row.outputs)
                self.context["stepOutputs"][step.name] = outputs
                if row.status == StepStatus.COMPLETED:
                    done.append(_Done(index, step, row.id, executions.loads(row.inputs), outputs))
                    continue
                if row.status in (StepStatus.SKIPPED, StepStatus.FAILED) and (
                    row.status == StepStatus.SKIPPED or step.on_failure is OnFailure.CONTINUE
                ):
                    continue
                return self._fail(done, None, row.message or "failed", cancelled=False)
            if row is not None and row.action == executions.WAIT_ACTION:
                waited = self._waited(index, step, row, done)
                if waited is not None:
                    return waited
                continue
            if self.run.cancelled():
                return self._fail(done, None, "the image build was cancelled", cancelled=True)
            result = self._run_step(index, step, done)
            if result is not None:
                return result
        outputs = self._outputs()
        self._finish(ExecutionStatus.COMPLETED)
        return WorkflowResult(Outcome.COMPLETED, outputs=outputs)

    def _run_step(self, index: int, step: WorkflowStep, done: list[_Done]) -> WorkflowResult | None:
        step_id = self._new_step(index, step)
        try:
            if step.condition is not None and not evaluate_condition(step.condition, self.context):
                self._update_step(step_id, status=StepStatus.SKIPPED.value, end_time=utcnow())
                self.context["stepOutputs"][step.name] = {}
                return None
            inputs = step.resolve_inputs(self.context)
        except KilnError as exc:
            return self._step_failed(index, step, step_id, {}, f"{exc}", done)
        self._update_step(step_id, inputs=executions.dumps(inputs))
        if step.action.name == executions.WAIT_ACTION:
            return WorkflowResult(Outcome.WAITING, f"step '{step.name}' waits for an action")
        try:
            outputs = self._call(step, inputs)
        except StepCancelledError:
            self._update_step(
                step_id, status=StepStatus.CANCELLED.value, end_time=utcnow(),
                message="cancelled",
            )  # fmt: skip
            done.append(_Done(index, step, step_id, inputs, {}))
            return self._fail(done, None, "the image build was cancelled", cancelled=True)
        except KilnError as exc:
            return self._step_failed(index, step, step_id, inputs, str(exc), done)
        self._update_step(
            step_id, status=StepStatus.COMPLETED.value, outputs=executions.dumps(outputs),
            end_time=utcnow(),
        )  # fmt: skip
        self.context["stepOutputs"][step.name] = outputs
        done.append(_Done(index, step, step_id, inputs, outputs))
        return None

    def _step_failed(
        self, index: int, step: WorkflowStep, step_id: str, inputs: dict[str, Any],
        message: str, done: list[_Done],
    ) -> WorkflowResult | None:  # fmt: skip
        note = self._logs_note(step)
        recorded = message
        if note and "logs" not in message.lower():
            recorded = f"{message[:3000]} ({note})"
        self._update_step(
            step_id, status=StepStatus.FAILED.value, message=recorded[:4000], end_time=utcnow()
        )
        self.context["stepOutputs"][step.name] = {}
        if step.on_failure is OnFailure.CONTINUE:
            return None
        failed = _Done(index, step, step_id, inputs, {})
        reason = f"Step '{step.name}' ({step.action.name}) failed: {message}"
        return self._fail(done, failed, reason, cancelled=False)

    def _waited(
        self, index: int, step: WorkflowStep, row: StepExecutionRow, done: list[_Done]
    ) -> WorkflowResult | None:
        sent = executions.loads(row.outputs)
        if not sent:
            if self.run.cancelled():
                self._update_step(row.id, status=StepStatus.CANCELLED.value, end_time=utcnow())
                return self._fail(done, None, "the image build was cancelled", cancelled=True)
            started = row.start_time or utcnow()
            if started.tzinfo is None:
                started = started.replace(tzinfo=dt.UTC)
            if utcnow() - started > dt.timedelta(seconds=row.timeout_seconds):
                message = f"timed out after {row.timeout_seconds}s waiting for an action"
                return self._step_failed(index, step, row.id, {}, message, done)
            return WorkflowResult(Outcome.WAITING, f"step '{step.name}' waits for an action")
        self.context["stepOutputs"][step.name] = sent
        if sent.get("action") == "RESUME":
            self._update_step(row.id, status=StepStatus.COMPLETED.value, end_time=utcnow())
            done.append(_Done(index, step, row.id, {}, sent))
            return None
        reason = sent.get("reason") or "no reason given"
        return self._step_failed(
            index, step, row.id, {}, f"stopped by SendWorkflowStepAction: {reason}", done
        )

    def _call(self, step: WorkflowStep, inputs: dict[str, Any]) -> dict[str, Any]:
        handler = HANDLERS.get(step.action.name)
        if handler is None:
            raise BuildError(f"the step action {step.action.name} is not available in Kiln yet")
        step_run = StepRun(self.run, self.planned.type, step.name, self.execution_id)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["outputs"] = handler.run(step_run, inputs)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=target, name=f"step-{step.name}", daemon=True)
        worker.start()
        deadline = utcnow() + dt.timedelta(seconds=step.timeout_seconds)
        while worker.is_alive():
            worker.join(self.run.config.poll_interval)
            if not worker.is_alive():
                break
            if self.run.cancelled():
                self.run.host.remove_instances(self.run.selector)
                worker.join(30)
                raise StepCancelledError(step.name)
            if utcnow() > deadline:
                raise StepTimedOutError(f"timed out after {step.timeout_seconds}s")
        if "error" in box:
            error = box["error"]
            if isinstance(error, KilnError):
                raise error
            raise BuildError(f"{type(error).__name__}: {error}") from error
        outputs: dict[str, Any] = box.get("outputs") or {}
        return outputs

    def _fail(
        self, done: list[_Done], failed: _Done | None, reason: str, *, cancelled: bool
    ) -> WorkflowResult:
        self._finish(ExecutionStatus.ROLLBACK_IN_PROGRESS, reason)
        for item in reversed([*done, *([failed] if failed else [])]):
            self._rollback(item)
        status = ExecutionStatus.CANCELLED if cancelled else ExecutionStatus.FAILED
        self._finish(status, reason)
        return WorkflowResult(Outcome.CANCELLED if cancelled else Outcome.FAILED, reason)

    def _rollback(self, item: _Done) -> None:
        handler = HANDLERS.get(item.step.action.name)
        if handler is None or handler.rollback is None or not self._rollback_enabled(item.step):
            return
        self._update_step(item.row_id, rollback_status=RollbackStatus.RUNNING.value)
        try:
            step_run = StepRun(self.run, self.planned.type, item.step.name, self.execution_id)
            handler.rollback(step_run, item.inputs, item.outputs)
        except KilnError as exc:
            self._update_step(
                item.row_id, rollback_status=RollbackStatus.FAILED.value,
                message=f"rollback failed: {exc}",
            )  # fmt: skip
            return
        self._update_step(item.row_id, rollback_status=RollbackStatus.COMPLETED.value)

    def _rollback_enabled(self, step: WorkflowStep) -> bool:
        value = step.rollback_enabled
        if isinstance(value, str):
            return bool(parse_path(value).evaluate(self.context))
        return bool(value)

    def _outputs(self) -> dict[str, Any]:
        outputs = {}
        for output in self.document.outputs:
            try:
                outputs[output.name] = parse_path(output.value).evaluate(self.context)
            except KilnError:
                continue
        return outputs
