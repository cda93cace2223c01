"""Checking a step's `inputs` against its action module's entry in the catalog: the input shape
(one mapping, a list of mappings, a condition), required and unknown fields, and field values
(lists, booleans, enumerations, permissions, URL schemes). Templated values are checked at run
time, after expansion."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from kiln.toe import conditions
from kiln.toe.catalog import ActionSpec, Shape
from kiln.toe.expressions import TEMPLATE
from kiln.toe.source import Path

Fault = Callable[[Path, str], None]
"""Records one problem at a place in the document."""

_PERMISSIONS = re.compile(r"^[0-7]{3,4}$")


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and TEMPLATE.search(value) is not None


def is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def scalar_text(value: Any) -> str:
    """A YAML scalar as the text a module sees (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_inputs(spec: ActionSpec, value: Any, *, at: Path, present: bool, fault: Fault) -> None:
    """Fault every problem of a step's `inputs` for its module (shape, fields, values)."""
    if spec.shape is Shape.CONDITION:
        if not present:
            fault(at, "Assert needs a condition as its inputs")
            return
        for sub, message in conditions.check(value, allow_actions=False):
            fault((*at, *sub), message)
    elif spec.shape is Shape.OPTIONAL_MAP and value is None:
        return
    elif spec.shape is Shape.LIST:
        if not isinstance(value, list) or not value:
            fault(at, f"{spec.name} takes a non-empty list of input objects")
            return
        for index, item in enumerate(value):
            _fields(spec, item, (*at, index), fault)
    else:
        _fields(spec, value, at, fault)


def _fields(spec: ActionSpec, item: Any, at: Path, fault: Fault) -> None:
    if not isinstance(item, Mapping):
        fault(at, f"{spec.name} inputs must be a mapping of fields")
        return
    for key in item:
        if key not in spec.fields:
            fault((*at, scalar_text(key)), f"unknown input '{key}' for {spec.name}")
    for key in spec.required:
        if item.get(key) in (None, "", []):
            fault(at, f"{spec.name} requires '{key}'")
    for key, value in item.items():
        if key in spec.fields and value is not None:
            _field(spec, scalar_text(key), value, (*at, scalar_text(key)), fault)
    if spec.name == "ExecutePowerShell" and ("commands" in item) == ("file" in item):
        fault(at, "ExecutePowerShell takes either 'commands' or 'file'")
    if spec.name == "WebDownload" and ("checksum" in item) != ("algorithm" in item):
        fault(at, "'checksum' and 'algorithm' go together")


def _field(spec: ActionSpec, key: str, value: Any, at: Path, fault: Fault) -> None:
    if key in spec.lists:
        if not isinstance(value, list):
            fault(at, "must be a list")
        elif key == "parameters":
            for index, entry in enumerate(value):
                if not isinstance(entry, Mapping) or set(entry) != {"name", "value"}:
                    fault((*at, index), "each parameter is a mapping of 'name' and 'value'")
        elif not all(is_scalar(v) for v in value):
            fault(at, "must be a list of strings")
        return
    if key == "properties" or not is_scalar(value):
        if key != "properties":
            fault(at, "must be a scalar value")
        return
    if is_templated(value):
        return
    text = scalar_text(value)
    if key in spec.booleans and text.lower() not in ("true", "false"):
        fault(at, "must be true or false")
    if key in spec.enums and text not in spec.enums[key] and text.lower() not in spec.enums[key]:
        fault(at, f"unsupported value {text!r} (allowed: {', '.join(sorted(spec.enums[key]))})")
    if key == "permissions" and (not isinstance(value, str) or not _PERMISSIONS.match(text)):
        fault(at, "must be a quoted octal string such as '0755'")
    if key == "delaySeconds" and (not isinstance(value, int) or value < 0):
        fault(at, "must be a non-negative integer")
    if (
        spec.name == "WebDownload"
        and key == "source"
        and not text.startswith(("http://", "https://"))
    ):
        fault(at, "must be an http:// or https:// URL")
    s3_field = {"S3Download": "source", "S3Upload": "destination"}.get(spec.name)
    if key == s3_field and not text.startswith("s3://"):
        fault(at, "must be an s3://bucket/key URL")
