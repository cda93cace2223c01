"""Image Builder workflow documents: parse, validate (every problem at once), and read.

``parse_workflow(text, workflow_type=...)`` returns a ``WorkflowDocument`` or raises
``WorkflowDocumentInvalidError`` whose ``problems`` each carry a ``location`` such as
``steps[2] 'CreateOutputAMI'.inputs.instanceId.$`` and a ``message``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from kiln.core.errors import ClientError
from kiln.workflow.actions import ACTIONS, StepAction, WorkflowType
from kiln.workflow.conditions import check_condition, condition_paths
from kiln.workflow.jsonpath import JsonPathError, interpolate, parse_path, template_paths

__all__ = [
    "IMAGEBUILDER_VARIABLES",
    "OnFailure",
    "ParameterType",
    "Problem",
    "WorkflowDocument",
    "WorkflowDocumentInvalidError",
    "WorkflowOutput",
    "WorkflowParameter",
    "WorkflowStep",
    "parse_workflow",
]

MAX_STEPS = 15
MAX_DOCUMENT_LENGTH = 16000
STEP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-_]{1,99}")
IMAGEBUILDER_VARIABLES = frozenset(
    {
        "cloudWatchLogGroup", "cloudWatchLogStream", "collectImageMetadata",
        "collectImageScanFindings", "dateTime", "imageBuildNumber", "imageId", "imageName",
        "imageType", "imageVersionNumber", "instanceProfileName", "platform", "s3Logs",
        "securityGroups", "sourceImageARN", "subnetId", "terminateInstanceOnFailure",
        "workflowPhase", "workingDirectory",
    }
)  # fmt: skip
_TOP_KEYS = frozenset({"name", "description", "schemaVersion", "parameters", "steps", "outputs"})
_PARAMETER_KEYS = frozenset({"name", "type", "default", "description"})
_STEP_KEYS = frozenset(
    {"name", "action", "description", "onFailure", "rollbackEnabled", "timeoutSeconds", "if",
     "inputs"}
)  # fmt: skip


class ParameterType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING_LIST = "stringList"


class OnFailure(StrEnum):
    ABORT = "Abort"
    CONTINUE = "Continue"


@dataclass(frozen=True, slots=True)
class Problem:
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class WorkflowDocumentInvalidError(ClientError):
    """The workflow document is invalid; ``problems`` lists every fault found."""

    code = "InvalidParameterValueException"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        summary = "; ".join(str(p) for p in problems)
        super().__init__(f"The workflow document is invalid: {summary}")


@dataclass(frozen=True, slots=True)
class WorkflowParameter:
    name: str
    type: ParameterType
    description: str | None = None
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True, slots=True)
class WorkflowStep:
    name: str
    action: StepAction
    on_failure: OnFailure
    rollback_enabled: bool | str
    timeout_seconds: int
    description: str | None = None
    condition: Mapping[str, Any] | None = field(default=None, hash=False)
    inputs: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def resolve_inputs(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs with ``key.$`` paths evaluated and ``{{ $.path }}`` strings interpolated."""
        resolved: dict[str, Any] = {}
        for key, value in self.inputs.items():
            if key.endswith(".$"):
                resolved[key[:-2]] = parse_path(value).evaluate(context)
            else:
                resolved[key] = _interpolate_all(value, context)
        return resolved


@dataclass(frozen=True, slots=True)
class WorkflowOutput:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class WorkflowDocument:
    workflow_type: WorkflowType
    schema_version: str
    steps: tuple[WorkflowStep, ...]
    parameters: tuple[WorkflowParameter, ...] = ()
    outputs: tuple[WorkflowOutput, ...] = ()
    name: str | None = None
    description: str | None = None

    def step(self, name: str) -> WorkflowStep:
        return next(s for s in self.steps if s.name == name)


def parse_workflow(text: str, *, workflow_type: WorkflowType | str) -> WorkflowDocument:
    """Parse and validate a YAML or JSON workflow document."""
    kind = WorkflowType(workflow_type)
    if len(text) > MAX_DOCUMENT_LENGTH:
        raise WorkflowDocumentInvalidError(
            [Problem("", f"the document has {len(text)} characters; at most 16000")]
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowDocumentInvalidError([Problem("", f"not valid YAML or JSON: {exc}")]) from exc
    checker = _Checker(kind)
    document = checker.document(data)
    if checker.problems or document is None:
        raise WorkflowDocumentInvalidError(checker.problems)
    return document


def _interpolate_all(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return interpolate(value, context)
    if isinstance(value, list):
        return [_interpolate_all(v, context) for v in value]
    if isinstance(value, Mapping):
        return {k: _interpolate_all(v, context) for k, v in value.items()}
    return value


class _Checker:
    """Walks a loaded document, collecting problems; builds the document as it goes."""

    def __init__(self, workflow_type: WorkflowType) -> None:
        self.workflow_type = workflow_type
        self.problems: list[Problem] = []
        self.parameters: dict[str, WorkflowParameter] = {}
        self.steps: list[WorkflowStep | None] = []
        self.step_actions: dict[str, StepAction | None] = {}
        self.step_names: list[str | None] = []  # index-aligned with the document's steps
        self.all_step_names: set[str] = set()

    def fail(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))

    def document(self, data: Any) -> WorkflowDocument | None:
        if not isinstance(data, Mapping):
            self.fail("", "the document must be a YAML or JSON mapping")
            return None
        for key in data:
            if key not in _TOP_KEYS:
                self.fail(str(key), f"unknown key {key!r}")
        version = data.get("schemaVersion")
        if version is None:
            self.fail("schemaVersion", "schemaVersion is required")
        elif str(version) != "1.0":
            self.fail("schemaVersion", f"schemaVersion must be 1.0, not {version!r}")
        name = self.optional_string(data, "name", "name")
        description = self.optional_string(data, "description", "description")
        self.check_parameters(data.get("parameters"))
        self.check_steps(data.get("steps"))
        outputs = self.check_outputs(data.get("outputs"))
        if self.problems:
            return None
        return WorkflowDocument(
            workflow_type=self.workflow_type,
            schema_version="1.0",
            name=name,
            description=description,
            parameters=tuple(self.parameters.values()),
            steps=tuple(s for s in self.steps if s is not None),
            outputs=tuple(outputs),
        )

    def optional_string(
        self, data: Mapping[str, Any], key: str, location: str, *, low: int = 0, high: int = 0
    ) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(location, f"{key} must be a string")
            return None
        if high and not low <= len(value) <= high:
            self.fail(location, f"{key} must have {low} to {high} characters")
        return value

    # -- parameters

    def check_parameters(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            self.fail("parameters", "parameters must be a list of mappings with a name")
            return
        for i, item in enumerate(value):
            location = f"parameters[{i}]"
            if not isinstance(item, Mapping):
                self.fail(location, "a parameter must be a mapping")
                continue
            for key in item:
                if key not in _PARAMETER_KEYS:
                    self.fail(f"{location}.{key}", f"unknown key {key!r}")
            name = item.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 128:
                self.fail(f"{location}.name", "a parameter needs a name of 1 to 128 characters")
                continue
            location = f"parameters[{i}] {name!r}"
            if name in self.parameters:
                self.fail(f"{location}.name", f"duplicate parameter name {name!r}")
            raw_type = item.get("type", "string")
            try:
                kind = ParameterType(raw_type)
            except ValueError:
                allowed = ", ".join(t.value for t in ParameterType)
                self.fail(f"{location}.type", f"type must be one of {allowed}, not {raw_type!r}")
                continue
            if "default" in item and not _fits(kind, item["default"]):
                self.fail(
                    f"{location}.default",
                    f"default {item['default']!r} is not a valid {kind.value}",
                )
            description = self.optional_string(
                item, "description", f"{location}.description", high=1024
            )
            self.parameters[name] = WorkflowParameter(
                name=name,
                type=kind,
                description=description,
                has_default="default" in item,
                default=item.get("default"),
            )

    # -- steps

    def check_steps(self, value: Any) -> None:
        if value is None:
            self.fail("steps", "steps is required")
            return
        if not isinstance(value, list) or not value:
            self.fail("steps", "steps must be a non-empty list")
            return
        if len(value) > MAX_STEPS:
            self.fail("steps", f"a workflow has at most {MAX_STEPS} steps, not {len(value)}")
        self.all_step_names = {
            item["name"] for item in value if isinstance(item, Mapping) and "name" in item
        }
        for i, item in enumerate(value):
            self.steps.append(self.check_step(i, item))

    def check_step(self, index: int, item: Any) -> WorkflowStep | None:
        location = f"steps[{index}]"
        if not isinstance(item, Mapping):
            self.fail(location, "a step must be a mapping")
            return None
        name = item.get("name")
        if not isinstance(name, str) or not STEP_NAME.fullmatch(name):
            self.fail(
                f"{location}.name",
                f"step name {name!r} must match ^[A-Za-z][A-Za-z0-9-_]{{1,99}}$",
            )
            name = None
        else:
            location = f"steps[{index}] {name!r}"
            if name in self.step_actions:
                self.fail(f"{location}.name", f"duplicate step name {name!r}")
        for key in item:
            if key not in _STEP_KEYS:
                self.fail(f"{location}.{key}", f"unknown key {key!r}")
        action = self.check_action(item.get("action"), location)
        duplicate = name in self.step_actions
        self.step_names.append(None if name is None or duplicate else name)
        if name is not None and not duplicate:
            self.step_actions[name] = action
        description = self.optional_string(
            item, "description", f"{location}.description", low=1, high=1024
        )
        on_failure = OnFailure.ABORT
        if "onFailure" in item:
            try:
                on_failure = OnFailure(item["onFailure"])
            except ValueError:
                self.fail(
                    f"{location}.onFailure",
                    f"onFailure must be Abort or Continue, not {item['onFailure']!r}",
                )
        rollback = self.check_rollback(item, location, index)
        timeout = self.check_timeout(item, location, action)
        condition = item.get("if")
        if "if" in item:
            for problem in check_condition(condition, f"{location}.if"):
                self.fail(problem.location, problem.message)
            for path_location, path in condition_paths(condition, f"{location}.if"):
                self.check_reference(path, path_location, before=index)
        inputs = self.check_inputs(item.get("inputs"), location, action, index)
        if name is None or action is None:
            return None
        return WorkflowStep(
            name=name,
            action=action,
            description=description,
            on_failure=on_failure,
            rollback_enabled=rollback,
            timeout_seconds=timeout,
            condition=condition,
            inputs=inputs,
        )

    def check_action(self, value: Any, location: str) -> StepAction | None:
        if value is None:
            self.fail(f"{location}.action", "action is required")
            return None
        action = ACTIONS.get(value) if isinstance(value, str) else None
        if action is None:
            self.fail(f"{location}.action", f"unknown step action {value!r}")
            return None
        if self.workflow_type not in action.workflow_types:
            allowed = ", ".join(sorted(action.workflow_types))
            self.fail(
                f"{location}.action",
                f"{action.name} is not allowed in a {self.workflow_type} workflow (only {allowed})",
            )
        return action

    def check_rollback(self, item: Mapping[str, Any], location: str, index: int) -> bool | str:
        value = item.get("rollbackEnabled", True)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.startswith("$"):
            self.check_reference(value, f"{location}.rollbackEnabled", before=index)
            return value
        self.fail(f"{location}.rollbackEnabled", "rollbackEnabled must be a boolean or JSONPath")
        return True

    def check_timeout(
        self, item: Mapping[str, Any], location: str, action: StepAction | None
    ) -> int:
        default = action.default_timeout if action else 0
        if "timeoutSeconds" not in item:
            return default
        value = item["timeoutSeconds"]
        limit = 86400 if action is None else action.max_timeout
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            scope = f" for {action.name}" if action else ""
            self.fail(
                f"{location}.timeoutSeconds",
                f"timeoutSeconds must be an integer from 1 to {limit}{scope}, not {value!r}",
            )
            return default
        return value

    def check_inputs(
        self, value: Any, location: str, action: StepAction | None, index: int
    ) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.fail(f"{location}.inputs", "inputs must be a mapping")
            return {}
        given: set[str] = set()
        for key, item in value.items():
            here = f"{location}.inputs.{key}"
            base = key[:-2] if isinstance(key, str) and key.endswith(".$") else key
            if base in given:
                self.fail(here, f"input {base!r} is given twice")
            given.add(base)
            if action and not action.open_inputs and base not in action.inputs:
                known = ", ".join(sorted(action.inputs)) or "none"
                self.fail(here, f"{action.name} has no input {base!r} (inputs: {known})")
            if base != key:
                if not isinstance(item, str):
                    self.fail(here, "a key ending in '.$' needs a JSONPath string value")
                else:
                    self.check_reference(item, here, before=index)
            else:
                for path_location, path in _template_strings(item, here):
                    self.check_reference(path, path_location, before=index)
        if action:
            for required in sorted(action.required_inputs - given):
                self.fail(f"{location}.inputs", f"{action.name} requires input {required!r}")
        return dict(value)

    # -- outputs

    def check_outputs(self, value: Any) -> list[WorkflowOutput]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail("outputs", "outputs must be a list of mappings with name and value")
            return []
        outputs: list[WorkflowOutput] = []
        names: set[str] = set()
        for i, item in enumerate(value):
            location = f"outputs[{i}]"
            if not isinstance(item, Mapping):
                self.fail(location, "an output must be a mapping with name and value")
                continue
            for key in item:
                if key not in ("name", "value"):
                    self.fail(f"{location}.{key}", f"unknown key {key!r}")
            name, path = item.get("name"), item.get("value")
            if not isinstance(name, str) or not name:
                self.fail(f"{location}.name", "an output needs a name")
                continue
            location = f"outputs[{i}] {name!r}"
            if name in names:
                self.fail(f"{location}.name", f"duplicate output name {name!r}")
            names.add(name)
            if not isinstance(path, str):
                self.fail(f"{location}.value", "an output value must be a JSONPath string")
                continue
            self.check_reference(path, f"{location}.value", before=len(self.step_names))
            outputs.append(WorkflowOutput(name=name, value=path))
        return outputs

    # -- references

    def check_reference(self, text: str, location: str, *, before: int) -> None:
        """A JSONPath may name declared parameters, earlier steps, imagebuilder variables."""
        try:
            path = parse_path(text)
        except JsonPathError as exc:
            self.fail(location, str(exc))
            return
        root, rest = path.segments[0], path.segments[1:]
        name = rest[0] if rest else None
        if root == "parameters":
            if name not in self.parameters:
                self.fail(location, f"{text}: no parameter named {name!r} is declared")
        elif root == "stepOutputs":
            self.check_step_reference(text, location, rest, before)
        elif root == "imagebuilder":
            if name not in IMAGEBUILDER_VARIABLES:
                self.fail(location, f"{text}: unknown Image Builder variable {name!r}")
        elif root == "workflowOutputs":
            if not isinstance(name, str):
                self.fail(location, f"{text}: name the workflow output")
        else:
            self.fail(
                location,
                f"{text}: a path starts with $.parameters, $.stepOutputs, $.workflowOutputs "
                "or $.imagebuilder",
            )

    def check_step_reference(
        self, text: str, location: str, rest: tuple[str | int, ...], before: int
    ) -> None:
        earlier = {n for n in self.step_names[:before] if n is not None}
        if len(rest) < 2 or not isinstance(rest[0], str) or not isinstance(rest[1], str):
            self.fail(location, f"{text}: use $.stepOutputs.<step>.<output>")
            return
        step, output = rest[0], rest[1]
        if step not in earlier:
            why = "a later step" if step in self.all_step_names else "no such step"
            self.fail(location, f"{text}: step {step!r} is not an earlier step ({why})")
            return
        action = self.step_actions[step]
        if action is not None and not action.open_inputs and output not in action.outputs:
            known = ", ".join(sorted(action.outputs)) or "none"
            self.fail(location, f"{text}: {action.name} has no output {output!r} ({known})")


def _template_strings(value: Any, location: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(location, path) for path in template_paths(value)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _template_strings(v, f"{location}[{i}]")]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _template_strings(v, f"{location}.{k}")]
    return []


def _fits(kind: ParameterType, value: Any) -> bool:
    if kind is ParameterType.STRING:
        return isinstance(value, str)
    if kind is ParameterType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is ParameterType.BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
