"""A validated component document, as values. Build one with `parse_document`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kiln.toe.errors import ToeRunError

DEFAULT_TIMEOUT_SECONDS = 7200
STANDARD_PHASES = ("build", "validate", "test")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: str | None
    description: str = ""


@dataclass(frozen=True)
class Constant:
    name: str
    type: str
    value: str


@dataclass(frozen=True)
class Loop:
    """A step loop. kind: "for" (start/end/update_by), "list" (items) or "split" (text)."""

    kind: str
    name: str | None = None
    start: int = 0
    end: int = 0
    update_by: int = 1
    items: tuple[Any, ...] = ()
    text: str = ""
    delimiter: str = ","


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    inputs: Any  # mapping, list of mappings, or None, exactly as written
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    on_failure: str = "Abort"
    max_attempts: int = 1
    loop: Loop | None = None
    condition: Mapping[str, Any] | None = None
    line: int | None = None


@dataclass(frozen=True)
class Phase:
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Document:
    schema_version: str
    phases: tuple[Phase, ...]
    name: str = ""
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    constants: tuple[Constant, ...] = ()
    text: str = field(default="", repr=False)
    path: str | None = None
    platform: str = "Linux"

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(phase.name for phase in self.phases)

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)


@dataclass(frozen=True)
class RunDocument:
    """A document to run with its own parameter values (they override the run's)."""

    document: Document
    parameters: Mapping[str, str] = field(default_factory=dict)


def resolve_variables(run: RunDocument, parameters: Mapping[str, str]) -> dict[str, str]:
    """Constants plus parameter values (document defaults < run values < document values).

    Raises ToeRunError naming every parameter that has neither a value nor a default.
    """
    document = run.document
    values = {c.name: c.value for c in document.constants}
    given = {**parameters, **run.parameters}
    missing = []
    for parameter in document.parameters:
        if parameter.name in given:
            values[parameter.name] = given[parameter.name]
        elif parameter.default is not None:
            values[parameter.name] = parameter.default
        else:
            missing.append(parameter.name)
    if missing:
        label = document.path or document.name or "document"
        raise ToeRunError(
            f"{label}: no value for parameter(s) {', '.join(missing)} (they have no default)"
        )
    return values


def component_type(document: Document) -> str:
    """Image Builder's component type: TEST iff the only phase is `test`, else BUILD."""
    return "TEST" if document.phase_names == ("test",) else "BUILD"


def shell_script_document(script: str, *, name: str, phase: str = "build") -> str:
    """ImportComponent format SHELL: the script becomes a one-step ExecuteBash document whose
    only phase is `phase` (build for a BUILD component, test for a TEST one)."""
    data = {
        "name": name,
        "schemaVersion": 1.0,
        "phases": [
            {
                "name": phase,
                "steps": [
                    {
                        "name": "RunScript",
                        "action": "ExecuteBash",
                        "inputs": {"commands": [script]},
                    },
                ],
            }
        ],
    }
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=1000)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks so an imported script stays readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)
