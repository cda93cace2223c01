"""parse_document: YAML text to a Document, collecting every problem before raising once.

Validation never runs anything. Each problem names its place: the path in the document with the
phase and step names, and the YAML line (e.g. "phases[0] 'build' .steps[1] 'InstallJq'
.inputs.commands (line 14)").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from kiln.toe import conditions
from kiln.toe.catalog import CATALOG, PLATFORMS, ActionSpec
from kiln.toe.document import (
    DEFAULT_TIMEOUT_SECONDS,
    STANDARD_PHASES,
    Constant,
    Document,
    Loop,
    Parameter,
    Phase,
    Step,
)
from kiln.toe.errors import DocumentInvalidError, Problem
from kiln.toe.expressions import NAME, Reference, references
from kiln.toe.inputs import check_inputs, is_scalar, is_templated, scalar_text
from kiln.toe.source import Path, Source, load_yaml

TOP_KEYS = ("name", "description", "schemaVersion", "parameters", "constants", "phases")
STEP_KEYS = ("name", "action", "inputs", "timeoutSeconds", "onFailure", "maxAttempts", "loop", "if")
ON_FAILURE = ("Abort", "Continue", "Ignore")
PARAM_TYPES = {
    "string": "string",
    "integer": "integer",
    "boolean": "boolean",
    "stringlist": "stringList",
}
DELIMITERS = frozenset([".", ",", ";", ":", "\n", "\t", "-", "_"]) | {" "}
_STEP_NAME = re.compile(r"^[^.\s{}\[\]]{1,128}$")


def parse_document(text: str, *, platform: str = "Linux", path: str | None = None) -> Document:
    """Parse and validate a component document for `platform` (Linux, Windows or macOS)."""
    if platform not in PLATFORMS:
        raise DocumentInvalidError([Problem("", f"unknown platform {platform!r}")])
    validator = _Validator(load_yaml(text), platform)
    document = validator.document(text, path)
    if validator.problems or document is None:
        raise DocumentInvalidError(validator.problems)
    return document


class _Validator:
    def __init__(self, source: Source, platform: str) -> None:
        self.source = source
        self.platform = platform
        self.problems: list[Problem] = []
        self.names: dict[Path, str] = {}
        self.variables: set[str] = set()
        self.steps_seen: dict[str, dict[str, Step]] = {}

    def fault(self, path: Path, message: str) -> None:
        out = ""
        for end, part in enumerate(path, start=1):
            out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
            if path[:end] in self.names:
                out += f" '{self.names[path[:end]]}' "
        out = out.rstrip() or "document"
        line = self.source.line(path)
        self.problems.append(Problem(f"{out} (line {line})" if line else out, message))

    # -- document ------------------------------------------------------------------------

    def document(self, text: str, path: str | None) -> Document | None:
        data = self.source.data
        if not isinstance(data, Mapping):
            self.fault((), "a component document must be a YAML mapping")
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.fault((str(key),), f"unknown top-level key '{key}'")
        self._schema_version(data)
        for key in ("name", "description"):
            if key in data and not isinstance(data[key], str):
                self.fault((key,), "must be a string")
        parameters = self._parameters(data.get("parameters"))
        constants = self._constants(data.get("constants"))
        phases = self._phases(data.get("phases"))
        for dup, _line in self.source.duplicates:
            self.fault(dup, f"duplicate key '{dup[-1]}'")
        return Document(
            schema_version="1.0",
            phases=phases,
            name=scalar_text(data.get("name") or ""),
            description=scalar_text(data.get("description") or ""),
            parameters=parameters,
            constants=constants,
            text=text,
            path=path,
            platform=self.platform,
        )

    def _schema_version(self, data: Mapping[str, Any]) -> None:
        if "schemaVersion" not in data:
            self.fault((), "schemaVersion is required (use 1.0)")
        elif scalar_text(data["schemaVersion"]) not in ("1.0", "1"):
            self.fault(
                ("schemaVersion",),
                f"unsupported schemaVersion {data['schemaVersion']!r}; only 1.0 exists",
            )

    def _named_items(self, value: Any, key: str) -> list[tuple[Path, str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fault((key,), "must be a list of single-key mappings")
            return []
        items: list[tuple[Path, str, Any]] = []
        for index, item in enumerate(value):
            at = (key, index)
            if not isinstance(item, Mapping) or len(item) != 1:
                self.fault(at, "each entry must be a mapping with exactly one key (its name)")
                continue
            name, body = next(iter(item.items()))
            name = scalar_text(name)
            self.names[at] = name
            if not NAME.match(name):
                self.fault(at, f"name {name!r} must be 3-128 characters of A-Z a-z 0-9 _ -")
            elif name in self.variables:
                self.fault(at, f"name {name!r} is already used by a parameter or constant")
            self.variables.add(name)
            if not isinstance(body, Mapping):
                self.fault((*at, name), "must be a mapping (type, ...)")
                continue
            items.append(((*at, name), name, body))
        return items

    def _parameters(self, value: Any) -> tuple[Parameter, ...]:
        result = []
        for at, name, body in self._named_items(value, "parameters"):
            self._unknown(body, at, ("type", "default", "description"))
            kind = self._type(body, at, PARAM_TYPES)
            default = body.get("default")
            if default is not None and not is_scalar(default):
                self.fault((*at, "default"), "must be a scalar value")
            if "description" in body and not isinstance(body["description"], str):
                self.fault((*at, "description"), "must be a string")
            result.append(
                Parameter(
                    name=name,
                    type=kind,
                    default=None if default is None else scalar_text(default),
                    description=scalar_text(body.get("description") or ""),
                )
            )
        return tuple(result)

    def _constants(self, value: Any) -> tuple[Constant, ...]:
        result = []
        for at, name, body in self._named_items(value, "constants"):
            self._unknown(body, at, ("type", "value"))
            kind = self._type(body, at, {"string": "string"})
            if "value" not in body or body["value"] is None:
                self.fault(at, "a constant needs a 'value'")
            elif not is_scalar(body["value"]):
                self.fault((*at, "value"), "must be a scalar value")
            result.append(Constant(name=name, type=kind, value=scalar_text(body.get("value", ""))))
        return tuple(result)

    def _type(self, body: Mapping[str, Any], at: Path, allowed: Mapping[str, str]) -> str:
        if "type" not in body:
            self.fault(at, "'type' is required")
            return "string"
        kind = allowed.get(scalar_text(body["type"]).lower())
        if kind is None:
            self.fault(
                (*at, "type"),
                f"unsupported type {body['type']!r} (allowed: {', '.join(allowed.values())})",
            )
            return "string"
        return kind

    def _unknown(self, body: Mapping[str, Any], at: Path, allowed: tuple[str, ...]) -> None:
        for key in body:
            if key not in allowed:
                self.fault(
                    (*at, scalar_text(key)), f"unknown key '{key}' (allowed: {', '.join(allowed)})"
                )

    # -- phases and steps ----------------------------------------------------------------

    def _phases(self, value: Any) -> tuple[Phase, ...]:
        if value is None:
            self.fault((), "'phases' is required")
            return ()
        if not isinstance(value, list) or not value:
            self.fault(("phases",), "must be a non-empty list of phases")
            return ()
        phases: list[Phase] = []
        for index, item in enumerate(value):
            at: Path = ("phases", index)
            if not isinstance(item, Mapping):
                self.fault(at, "a phase must be a mapping with 'name' and 'steps'")
                continue
            name = item.get("name")
            if isinstance(name, str):
                self.names[at] = name
            self._unknown(item, at, ("name", "steps"))
            if not isinstance(name, str) or not _STEP_NAME.match(name):
                self.fault(at, "a phase needs a 'name' (a string without dots or spaces)")
                continue
            if name in self.steps_seen:
                self.fault((*at, "name"), f"phase name '{name}' is used twice")
                continue
            self.steps_seen[name] = {}
            phases.append(Phase(name=name, steps=self._steps(item.get("steps"), at, name)))
        if phases and not any(p.name in STANDARD_PHASES for p in phases):
            self.fault(("phases",), "at least one phase must be named build, validate or test")
        return tuple(phases)

    def _steps(self, value: Any, at: Path, phase: str) -> tuple[Step, ...]:
        if not isinstance(value, list) or not value:
            self.fault(
                (*at, "steps") if value is not None else at,
                "a phase needs a non-empty list of 'steps'",
            )
            return ()
        steps = []
        loop_names: set[str] = set()
        for index, item in enumerate(value):
            step = self._step(item, (*at, "steps", index), phase, loop_names)
            if step is not None:
                steps.append(step)
        return tuple(steps)

    def _step(self, item: Any, at: Path, phase: str, loop_names: set[str]) -> Step | None:
        if not isinstance(item, Mapping):
            self.fault(at, "a step must be a mapping with 'name' and 'action'")
            return None
        name = item.get("name")
        if not isinstance(name, str) or not _STEP_NAME.match(name):
            self.fault(at, "a step needs a 'name' (1-128 characters, no dots, spaces or braces)")
            name = None
        else:
            self.names[at] = name
            if name in self.steps_seen[phase]:
                self.fault((*at, "name"), f"step name '{name}' is used twice in phase '{phase}'")
        for key in item:
            if key not in STEP_KEYS:
                self.fault((*at, scalar_text(key)), f"unknown step field '{key}'")
        spec = self._action(item.get("action"), at)
        timeout = self._timeout(item, at, spec)
        on_failure = item.get("onFailure", "Abort")
        if on_failure not in ON_FAILURE:
            self.fault((*at, "onFailure"), f"must be one of {', '.join(ON_FAILURE)}")
        attempts = item.get("maxAttempts", 1)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            self.fault((*at, "maxAttempts"), "must be an integer of at least 1")
        elif spec is not None and spec.name == "ExecuteDocument" and attempts != 1:
            self.fault((*at, "maxAttempts"), "ExecuteDocument always makes exactly 1 attempt")
        loop = self._loop(item["loop"], (*at, "loop"), loop_names) if "loop" in item else None
        condition = item.get("if")
        if "if" in item:
            for sub, message in conditions.check(condition, allow_actions=True):
                self.fault((*at, "if", *sub), message)
        if spec is not None:
            check_inputs(
                spec,
                item.get("inputs"),
                at=(*at, "inputs"),
                present="inputs" in item,
                fault=self.fault,
            )
        self._references(item, at, phase, loop)
        if name is None or spec is None:
            return None
        step = Step(
            name=name,
            action=spec.name,
            inputs=item.get("inputs"),
            timeout_seconds=timeout,
            on_failure=scalar_text(on_failure),
            max_attempts=attempts if isinstance(attempts, int) else 1,
            loop=loop,
            condition=condition if isinstance(condition, Mapping) else None,
            line=self.source.line(at),
        )
        self.steps_seen[phase][name] = step
        return step

    def _action(self, action: Any, at: Path) -> ActionSpec | None:
        if action is None:
            self.fault(at, "a step needs an 'action'")
            return None
        spec = CATALOG.get(scalar_text(action))
        if spec is None:
            close = difflib.get_close_matches(scalar_text(action), list(CATALOG), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.fault((*at, "action"), f"unknown action '{action}'{hint}")
            return None
        if self.platform not in spec.platforms:
            where = " and ".join(sorted(spec.platforms))
            self.fault(
                (*at, "action"),
                f"{spec.name} runs only on {where}, not in a {self.platform} document",
            )
            return None
        return spec

    def _timeout(self, item: Mapping[str, Any], at: Path, spec: ActionSpec | None) -> int:
        if "timeoutSeconds" not in item:
            return (
                -1
                if spec is not None and spec.name in ("ExecuteDocument", "Reboot")
                else DEFAULT_TIMEOUT_SECONDS
            )
        value = item["timeoutSeconds"]
        where = (*at, "timeoutSeconds")
        if not isinstance(value, int) or isinstance(value, bool) or (value < 1 and value != -1):
            self.fault(where, "must be a positive integer, or -1 for no timeout")
            return DEFAULT_TIMEOUT_SECONDS
        if spec is not None and spec.name == "Reboot":
            self.fault(where, "Reboot does not support timeoutSeconds")
        if spec is not None and spec.name == "ExecuteDocument" and value != -1:
            self.fault(where, "ExecuteDocument always runs without a timeout (-1)")
        return value

    def _loop(self, value: Any, at: Path, loop_names: set[str]) -> Loop | None:
        if not isinstance(value, Mapping):
            self.fault(at, "a loop must be a mapping with 'for' or 'forEach'")
            return None
        self._unknown(value, at, ("name", "for", "forEach"))
        name = value.get("name")
        if name is not None:
            if (
                not isinstance(name, str)
                or not re.match(r"^[A-Za-z0-9_-]{1,128}$", name)
                or name == "loop"
            ):
                self.fault(
                    (*at, "name"),
                    "a loop name is 1-128 characters of A-Z a-z 0-9 _ - (and not 'loop')",
                )
            elif name in loop_names:
                self.fault((*at, "name"), f"loop name '{name}' is used twice in this phase")
            else:
                loop_names.add(name)
        kinds = [k for k in ("for", "forEach") if k in value]
        if len(kinds) != 1:
            self.fault(at, "a loop needs exactly one of 'for' or 'forEach'")
            return None
        name = name if isinstance(name, str) else None
        if kinds[0] == "for":
            return self._for(value["for"], (*at, "for"), name)
        return self._for_each(value["forEach"], (*at, "forEach"), name)

    def _for(self, value: Any, at: Path, name: str | None) -> Loop | None:
        if not isinstance(value, Mapping):
            self.fault(at, "'for' needs start, end and updateBy")
            return None
        self._unknown(value, at, ("start", "end", "updateBy"))
        numbers: dict[str, int] = {}
        for key in ("start", "end", "updateBy"):
            number = value.get(key)
            if not isinstance(number, int) or isinstance(number, bool):
                self.fault(
                    (*at, key) if key in value else at,
                    f"'{key}' must be an integer (chaining is not allowed here)",
                )
            else:
                numbers[key] = number
        if len(numbers) < 3:
            return None
        start, end, update = numbers["start"], numbers["end"], numbers["updateBy"]
        if update == 0:
            self.fault((*at, "updateBy"), "must not be 0 (the loop would never end)")
            return None
        if (end - start) * update < 0:
            self.fault(
                (*at, "updateBy"),
                f"counting from {start} by {update} never reaches {end} (infinite loop)",
            )
            return None
        return Loop(kind="for", name=name, start=start, end=end, update_by=update)

    def _for_each(self, value: Any, at: Path, name: str | None) -> Loop | None:
        if isinstance(value, list):
            if not value:
                self.fault(at, "'forEach' needs a non-empty list")
                return None
            for index, item in enumerate(value):
                if not is_scalar(item):
                    self.fault((*at, index), "each forEach item must be a scalar")
            return Loop(kind="list", name=name, items=tuple(value))
        if not isinstance(value, Mapping):
            self.fault(at, "'forEach' takes a list, or a mapping with 'list' and 'delimiter'")
            return None
        self._unknown(value, at, ("list", "delimiter"))
        text = value.get("list")
        if not isinstance(text, str):
            self.fault(at, "'forEach' needs 'list': a delimited string")
            return None
        delimiter = value.get("delimiter", ",")
        if is_templated(delimiter):
            self.fault((*at, "delimiter"), "chaining is not allowed in the delimiter")
        elif not isinstance(delimiter, str) or delimiter not in DELIMITERS:
            self.fault(
                (*at, "delimiter"), "must be one character of . , ; : - _ space, newline or tab"
            )
        return Loop(kind="split", name=name, text=text, delimiter=scalar_text(delimiter))

    # -- references ----------------------------------------------------------------------

    def _references(self, item: Mapping[str, Any], at: Path, phase: str, loop: Loop | None) -> None:
        for field in ("inputs", "if", "loop"):
            if field not in item:
                continue
            for sub, ref in references(item[field]):
                self._reference(ref, (*at, field, *sub), phase, loop)

    def _reference(self, ref: Reference, at: Path, phase: str, loop: Loop | None) -> None:
        shown = f"'{{{{ {ref.text} }}}}'"
        if ref.kind == "invalid":
            self.fault(at, f"{shown} is not a valid reference")
        elif ref.kind == "variable" and ref.name not in self.variables:
            self.fault(at, f"{shown} names no parameter or constant of this document")
        elif ref.kind == "loop" and ref.name != "loop" and (loop is None or loop.name != ref.name):
            self.fault(at, f"{shown} names no loop of this step")
        elif ref.kind == "chain":
            self._chain(ref, at, shown)

    def _chain(self, ref: Reference, at: Path, shown: str) -> None:
        steps = self.steps_seen.get(ref.phase)
        if steps is None:
            self.fault(at, f"{shown}: no earlier phase is named '{ref.phase}'")
            return
        target = steps.get(ref.step)
        if target is None:
            self.fault(at, f"{shown}: no earlier step '{ref.step}' in phase '{ref.phase}'")
            return
        spec = CATALOG[target.action]
        if ref.which == "outputs" and spec.outputs and ref.field not in spec.outputs:
            self.fault(at, f"{shown}: {target.action} has no output '{ref.field}'")
        elif ref.which == "outputs" and not spec.outputs:
            self.fault(at, f"{shown}: {target.action} has no outputs")
