"""run_documents: phases in document order, steps in order, with loops, conditions, retries,
timeouts, reboots (state persisted so a run resumes) and AWSTOE's log folder.

The runner runs on the host and reaches the instance only through the Communicator.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.toe import conditions, loops
from kiln.toe.actions import MODULES
from kiln.toe.actions.assertion import InstanceProbe
from kiln.toe.actions.context import (
    OUTPUT_TAIL_BYTES,
    ActionContext,
    ActionFailed,
    RebootRequested,
    StepTimedOut,
)
from kiln.toe.catalog import CATALOG, Shape
from kiln.toe.communicator import Communicator, CommunicatorError
from kiln.toe.document import Document, RunDocument, Step, resolve_variables
from kiln.toe.expressions import Reference, Scope, UnresolvedReferenceError, expand
from kiln.toe.loader import DocumentLoader, InstanceDocumentLoader
from kiln.toe.logs import RunLog, folder_name
from kiln.toe.nesting import Including, execute_document
from kiln.toe.objectstore import ObjectStore
from kiln.toe.results import (
    FAILED,
    IGNORED,
    SKIPPED,
    SUCCESS,
    DocumentResult,
    PhaseResult,
    RunResult,
    StepResult,
    as_text,
    now,
    rollup,
)
from kiln.toe.state import RunState

MAX_REBOOTS = 10


def run_documents(
    documents: Sequence[Document | RunDocument],
    *,
    communicator: Communicator,
    log_dir: Path,
    phases: Sequence[str] | None = None,
    parameters: Mapping[str, str] | None = None,
    execution_id: str | None = None,
    state_dir: Path | None = None,
    object_store: ObjectStore | None = None,
    document_loader: DocumentLoader | None = None,
    work_dir: str | None = None,
    trace: Callable[[str], None] | None = None,
    tail_bytes: int = OUTPUT_TAIL_BYTES,
) -> RunResult:
    """Run the selected phases of each document in turn (phases in document order).

    Raises ToeRunError before running anything if a parameter without default has no value.
    With `state_dir`, an unfinished execution of the same id resumes where it stopped.
    """
    execution_id = execution_id or str(uuid.uuid4())
    runs = [d if isinstance(d, RunDocument) else RunDocument(d) for d in documents]
    variables = [resolve_variables(run, parameters or {}) for run in runs]
    state = RunState.open(state_dir, execution_id)
    folder = Path(state.get("logFolder") or log_dir / folder_name(execution_id))
    state.put("logFolder", str(folder))
    root = work_dir or f"/tmp/kiln-toe/{_safe(execution_id)}"
    with tempfile.TemporaryDirectory(prefix="kiln-toe-") as scratch:
        settings = _Settings(
            communicator=communicator, object_store=object_store,
            loader=document_loader or InstanceDocumentLoader(), state=state, work_root=root,
            scratch=Path(scratch), trace=trace, tail_bytes=tail_bytes,
        )  # fmt: skip
        execution = _Execution(settings, folder=folder, execution_id=execution_id)
        result = execution.run(runs, variables, phases)
    state.finish()
    communicator.exec(["rm", "-rf", "--", root], on_output=lambda _c: None, timeout=60)
    return result


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


@dataclass(frozen=True)
class _Settings:
    communicator: Communicator
    object_store: ObjectStore | None
    loader: DocumentLoader
    state: RunState
    work_root: str
    scratch: Path
    trace: Callable[[str], None] | None
    tail_bytes: int


class _Failure(Exception):
    def __init__(self, message: str, loop: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.loop = loop


class _RebootAfter(Exception):
    def __init__(self, inputs: list[Any]) -> None:
        super().__init__("reboot after step")
        self.inputs = inputs


@dataclass
class _Progress:
    """How far one attempt of a step got (persisted across reboots)."""

    iteration: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    failures: list[list[Any]] = field(default_factory=list)
    details: list[Any] = field(default_factory=list)
    reboots: int = 0


@dataclass
class _DocRun:
    index: int
    document: Document
    identity: str
    variables: Mapping[str, str]
    results: dict[tuple[str, str], StepResult] = field(default_factory=dict)


class _Execution:
    """One execution: a list of documents and one log folder (nested documents get their own)."""

    def __init__(
        self,
        settings: _Settings,
        *,
        folder: Path,
        execution_id: str,
        depth: int = 0,
        ancestry: tuple[str, ...] = (),
        prefix: str = "",
    ) -> None:
        self.s = settings
        self.folder = folder
        self.execution_id = execution_id
        self.depth = depth
        self.ancestry = ancestry
        self.prefix = prefix
        self.documents: list[DocumentResult] = []
        self.start = settings.state.get(f"{prefix}startTime") or now()
        settings.state.put(f"{prefix}startTime", self.start)
        self.log = RunLog(folder, echo=settings.trace)

    def snapshot(self, *, final: bool = False) -> RunResult:
        return RunResult(
            execution_id=self.execution_id, status=rollup(d.status for d in self.documents),
            log_url=self.folder, start_time=self.start, end_time=now() if final else "",
            documents=tuple(self.documents),
        )  # fmt: skip

    def run(
        self,
        runs: Sequence[RunDocument],
        variables: Sequence[Mapping[str, str]],
        phases: Sequence[str] | None,
    ) -> RunResult:
        try:
            self.log.info(f"execution {self.execution_id} started")
            for index, (run, values) in enumerate(zip(runs, variables, strict=True)):
                document = run.document
                self.log.copy_document(index, document.text)
                identity = document.path or f"<document {self.prefix}{index}>"
                doc = _DocRun(index, document, identity, values)
                if self._run_document(doc, phases):
                    break
            result = self.snapshot(final=True)
            self.log.info(f"execution {self.execution_id} finished: {result.status}")
            self.log.detailed(result.detailed())
            return result
        finally:
            self.log.close()

    def _run_document(self, doc: _DocRun, phases: Sequence[str] | None) -> bool:
        """Run one document; True when a step aborted the run."""
        document = doc.document
        record = DocumentResult(
            name=document.name,
            description=document.description,
            file_path=document.path or f"document-{doc.index}.yaml",
        )
        self.documents.append(record)
        self.log.info(f"document {record.file_path}: phases {', '.join(document.phase_names)}")
        try:
            for phase in document.phases:
                if phases is not None and phase.name not in phases:
                    continue
                phase_record = PhaseResult(name=phase.name)
                record.phases.append(phase_record)
                for step in phase.steps:
                    result, aborts = self._run_step(doc, phase.name, step)
                    phase_record.steps.append(result)
                    doc.results[(phase.name, step.name)] = result
                    self.log.flush()
                    self.log.detailed(self.snapshot().detailed())
                    if aborts:
                        return True
                phase_record.end_time = now()
            return False
        finally:
            for phase_record in record.phases:
                phase_record.end_time = phase_record.end_time or now()
            record.end_time = now()

    # -- steps ---------------------------------------------------------------------------

    def _run_step(self, doc: _DocRun, phase: str, step: Step) -> tuple[StepResult, bool]:
        key = f"{self.prefix}{doc.index}/{phase}/{step.name}"
        state = self.s.state
        done = state.completed(key)
        if done is not None:
            self.log.info(f"step {phase}/{step.name}: already done ({done['status']})")
            return StepResult.from_state(done), bool(done.get("abortsRun"))
        pending = state.pending(key)
        start = pending.get("start") or now()
        base = functools.partial(
            StepResult, name=step.name, action=step.action, start_time=start,
            timeout_seconds=step.timeout_seconds, on_failure=step.on_failure,
            max_attempts=step.max_attempts,
        )  # fmt: skip
        scope = Scope(doc.variables, chain=functools.partial(self._chain, doc, step.name))
        self.log.info(f"step {phase}/{step.name} ({step.action}) started")
        decision = pending.get("decision")
        if step.condition is not None and decision is None:
            try:
                decision = self._decide(step, scope, key)
            except (UnresolvedReferenceError, ActionFailed, StepTimedOut) as exc:
                message = f"if: {exc or 'timed out'}"
                return self._finish(
                    key, base(status=FAILED, end_time=now(), failure_message=message), aborts=True
                )
            state.set_pending(key, {"start": start, "decision": decision})
        if decision == "Skip":
            return self._finish(key, base(status=SKIPPED, end_time=now()), aborts=False)
        if decision == "Abort":
            result = base(
                status=FAILED, end_time=now(), failure_message="if: condition chose Abort"
            )
            return self._finish(key, result, aborts=True)
        attempt = int(pending.get("attempt", 1))
        progress = _Progress(**pending.get("progress", {}))
        message = ""
        loop_info: Mapping[str, Any] | None = None
        while attempt <= step.max_attempts:
            try:
                inputs, outputs, summary, details = self._attempt(
                    doc, phase, step, key, scope, attempt=attempt, progress=progress,
                    remember={"start": start, "decision": decision},
                )  # fmt: skip
                result = base(
                    status=SUCCESS,
                    end_time=now(),
                    attempts=attempt,
                    inputs=inputs,
                    outputs=outputs,
                    loop=summary,
                    detailed_output=details or None,
                )
                return self._finish(key, result, aborts=False)
            except _RebootAfter as reboot:
                result = base(
                    status=SUCCESS, end_time=now(), attempts=attempt, inputs=reboot.inputs
                )
                return self._reboot_after(key, result)
            except _Failure as failure:
                message, loop_info = str(failure), failure.loop
                self.log.info(f"step {phase}/{step.name} attempt {attempt} failed: {message}")
            attempt += 1
            progress = _Progress()
        status = IGNORED if step.on_failure == "Ignore" else FAILED
        result = base(
            status=status,
            end_time=now(),
            attempts=step.max_attempts,
            failure_message=message,
            loop=loop_info,
        )
        return self._finish(key, result, aborts=status == FAILED and step.on_failure == "Abort")

    def _finish(self, key: str, result: StepResult, *, aborts: bool) -> tuple[StepResult, bool]:
        self.s.state.complete(key, {**result.to_state(), "abortsRun": aborts})
        self.log.info(f"step {result.name}: {result.status} {result.failure_message}".rstrip())
        return result, aborts

    def _reboot_after(self, key: str, result: StepResult) -> tuple[StepResult, bool]:
        finished = self._finish(key, result, aborts=False)
        try:
            self.log.info("rebooting the instance (Reboot step)")
            self.s.communicator.reboot()
        except CommunicatorError as exc:
            failed = dataclasses.replace(result, status=FAILED, failure_message=f"Reboot: {exc}")
            return self._finish(key, failed, aborts=result.on_failure == "Abort")
        return finished

    def _decide(self, step: Step, scope: Scope, key: str) -> str:
        assert step.condition is not None
        condition = expand(dict(step.condition), scope)
        probe = InstanceProbe(self._context(step, key, "if", deadline=time.monotonic() + 600))
        holds = conditions.evaluate(condition, probe)
        decision = str(condition.get("then", "Execute") if holds else condition.get("else", "Skip"))
        self.log.info(f"step {step.name}: condition is {holds}: {decision}")
        return decision

    def _context(self, step: Step, key: str, part: str, *, deadline: float | None) -> ActionContext:
        return ActionContext(
            action=step.action, communicator=self.s.communicator, console=self.log.console,
            work_dir=f"{self.s.work_root}/{_safe(key)}/{part}", scratch=self.s.scratch,
            deadline=deadline, object_store=self.s.object_store, log=self.log.info,
            tail_bytes=self.s.tail_bytes,
        )  # fmt: skip

    def _deadline(self, step: Step) -> float | None:
        return None if step.timeout_seconds == -1 else time.monotonic() + step.timeout_seconds

    def _attempt(
        self,
        doc: _DocRun,
        phase: str,
        step: Step,
        key: str,
        scope: Scope,
        *,
        attempt: int,
        progress: _Progress,
        remember: Mapping[str, Any],
    ) -> tuple[list[Any], dict[str, Any], dict[str, Any] | None, list[Any]]:
        self.log.info(f"step {phase}/{step.name} attempt {attempt}")
        deadline = self._deadline(step)
        try:
            frames = loops.frames(step, scope)
        except UnresolvedReferenceError as exc:
            raise _Failure(f"loop: {exc}") from exc
        while progress.iteration < len(frames):
            frame = frames[progress.iteration]
            ctx = self._context(step, key, str(progress.iteration), deadline=deadline)
            ctx.nested = functools.partial(self._nested, doc, key, progress.iteration, ctx)
            try:
                items, outputs = self._iteration(step, ctx, dataclasses.replace(scope, loop=frame))
                progress.outputs.append(outputs)
                progress.inputs.extend(items)
                progress.details.extend(ctx.details)
            except (ActionFailed, UnresolvedReferenceError) as exc:
                progress.failures.append([progress.iteration, str(exc)])
                progress.details.extend(ctx.details)
            except StepTimedOut as exc:
                raise _Failure(f"timed out after {step.timeout_seconds} seconds") from exc
            except RebootRequested as request:
                if not request.rerun:
                    raise _RebootAfter(progress.inputs) from request
                self._reboot(key, step, attempt, progress, remember)
                deadline = self._deadline(step)
                continue
            progress.iteration += 1
        loop = loops.summary(step, len(frames), [i for i, _ in progress.failures])
        if progress.failures:
            if step.loop is None:
                raise _Failure(progress.failures[0][1], loop)
            indices = ", ".join(str(i) for i, _ in progress.failures)
            details = "; ".join(f"[{i}] {m}" for i, m in progress.failures)
            raise _Failure(f"loop iterations {indices} failed: {details}", loop)
        return progress.inputs, loops.consolidate(progress.outputs), loop, progress.details

    def _reboot(
        self, key: str, step: Step, attempt: int, progress: _Progress, remember: Mapping[str, Any]
    ) -> None:
        progress.reboots += 1
        if progress.reboots > MAX_REBOOTS:
            raise _Failure(f"asked for a reboot more than {MAX_REBOOTS} times")
        self.s.state.set_pending(
            key, {**remember, "attempt": attempt, "progress": dataclasses.asdict(progress)}
        )
        self.log.info(f"step {step.name}: exit code 194, rebooting and running the step again")
        try:
            self.s.communicator.reboot()
        except CommunicatorError as exc:
            raise _Failure(f"exit code 194 asks for a reboot, which failed: {exc}") from exc

    def _iteration(
        self, step: Step, ctx: ActionContext, scope: Scope
    ) -> tuple[list[Any], dict[str, Any]]:
        expanded = expand(step.inputs, scope)
        spec = CATALOG[step.action]
        module = MODULES.get(step.action)
        if module is None:
            ctx.fail("this module is not available on Linux instances")
        if spec.shape is Shape.LIST:
            items = list(expanded)
        else:
            items = [expanded if expanded is not None else {}]
        outputs: dict[str, Any] = {}
        for item in items:
            loops.merge(outputs, module(ctx, item))
        return items, outputs

    def _chain(self, doc: _DocRun, step_name: str, ref: Reference) -> str:
        target = doc.results.get((ref.phase, ref.step))
        shown = f"{{{{ {ref.text} }}}}"
        if target is None or target.status != SUCCESS:
            state = "has not run" if target is None else f"is {target.status}"
            raise UnresolvedReferenceError(f"'{shown}': step {ref.phase}.{ref.step} {state}")
        if ref.which == "outputs":
            found = target.outputs.get(ref.field)
        else:
            index = ref.index or 0
            item = target.inputs[index] if index < len(target.inputs) else None
            found = item.get(ref.field) if isinstance(item, Mapping) else None
        if found is None:
            raise UnresolvedReferenceError(f"'{shown}': {ref.phase}.{ref.step} has no such value")
        value = as_text(found)
        self.log.chained(step=step_name, expression=shown, value=value)
        return value

    # -- nested documents ----------------------------------------------------------------

    def _nested(
        self, doc: _DocRun, key: str, iteration: int, ctx: ActionContext, inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        including = Including(doc.document, doc.identity, self.ancestry, self.depth)

        def spawn(
            run: RunDocument,
            values: Mapping[str, str],
            phases: Sequence[str] | None,
            ancestry: tuple[str, ...],
        ) -> RunResult:
            child = _Execution(
                self.s, folder=self.folder / f"ExecuteDocument_{_safe(key)}_{iteration}",
                execution_id=f"{self.execution_id}.{_safe(key)}.{iteration}",
                depth=self.depth + 1, ancestry=ancestry, prefix=f"{key}#{iteration}/",
            )  # fmt: skip
            return child.run([run], [values], phases)

        return execute_document(
            ctx, inputs, including=including, loader=self.s.loader,
            communicator=self.s.communicator, scratch=self.s.scratch, spawn=spawn,
        )  # fmt: skip
