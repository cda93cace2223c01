"""Validation of parsed parameters against a botocore input shape.

Checks what a server must (required, type, min, max, pattern, enum, unions), walking the whole
input and collecting every problem before the caller raises once, as botocore does client-side.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from typing import Any

from botocore.model import Shape

logger = logging.getLogger(__name__)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        logger.warning("model pattern not supported by Python's re, not checked: %s", pattern)
        return None


def validate(shape: Shape, params: dict[str, Any]) -> list[str]:
    """Every problem of params against shape, as AWS-style sentences (empty when valid)."""
    problems: list[str] = []
    _check(shape, params, "", problems)
    return problems


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is not None:
        checker(shape, value, path, problems)


def _label(path: str) -> str:
    return path or "input"


def _structure(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"'{_label(path)}' must be a structure")
        return
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(f"The request is missing required parameter '{_join(path, name)}'")
    if getattr(shape, "is_tagged_union", False):
        set_members = [k for k, v in value.items() if v is not None]
        if len(set_members) != 1:
            problems.append(f"'{_label(path)}' must have exactly one member set")
    for name, member_value in value.items():
        if member_value is None or name not in members:
            continue
        _check(members[name], member_value, _join(path, name), problems)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _list(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be a list")
        return
    _range(shape, len(value), path, problems, what="length")
    for i, item in enumerate(value):
        _check(shape.member, item, f"{path}[{i}]", problems)


def _map(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be a map")
        return
    _range(shape, len(value), path, problems, what="size")
    for key, item in value.items():
        _check(shape.key, key, f"{path}.key({key!r})", problems)
        _check(shape.value, item, f"{path}[{key!r}]", problems)


def _string(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be a string")
        return
    enum = shape.enum
    if enum and value not in enum:
        problems.append(
            f"The value supplied for parameter '{_label(path)}' is not valid. "
            f"'{_label(path)}' must be one of: {', '.join(enum)}"
        )
        return
    _range(shape, len(value), path, problems, what="length")
    pattern = shape.metadata.get("pattern")
    if pattern:
        compiled = _pattern(pattern)
        if compiled is not None and not compiled.search(value):
            problems.append(
                f"The value supplied for parameter '{_label(path)}' is not valid. "
                f"'{_label(path)}' must match pattern {pattern}"
            )


def _integer(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be an integer")
        return
    _range(shape, value, path, problems, what="value")


def _float(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be a number")
        return
    _range(shape, value, path, problems, what="value")


def _boolean(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be a boolean")


def _timestamp(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dt.datetime):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be a timestamp")


def _blob(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bytes | bytearray):
        problems.append(f"The value supplied for parameter '{_label(path)}' must be binary data")
        return
    _range(shape, len(value), path, problems, what="length")


def _range(shape: Shape, amount: float, path: str, problems: list[str], *, what: str) -> None:
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")
    label = _label(path)
    if low is not None and amount < low:
        problems.append(
            f"The value supplied for parameter '{label}' is not valid. "
            f"Its {what} must be at least {low}"
        )
    if high is not None and amount > high:
        problems.append(
            f"The value supplied for parameter '{label}' is not valid. "
            f"Its {what} must be at most {high}"
        )


_CHECKERS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "float": _float,
    "double": _float,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "blob": _blob,
}
