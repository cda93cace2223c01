"""EC2's `Filters`: a list of {Name, Values}; a resource matches when every filter has a value
that matches one of the resource's values for that name. Values may use `*` (any run) and `?`
(one character); a backslash escapes either.

A describe call hands over a table from filter name to a getter of the values a rendered
resource has for it; `tag:<key>` is handled here for every resource type with `Tags`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from kiln.services.ec2.errors import InvalidParameterValue

View = Mapping[str, Any]
Getter = Callable[[View], Iterable[str]]
Predicate = Callable[[View], bool]


def member(*path: str) -> Getter:
    """The value at a path of nested members (lists are walked), as filter strings."""

    def get(view: View) -> list[str]:
        found: list[Any] = [view]
        for key in path:
            step: list[Any] = []
            for value in found:
                value = value.get(key) if isinstance(value, Mapping) else None
                if isinstance(value, list):
                    step += value
                elif value is not None:
                    step.append(value)
            found = step
        return [_text(value) for value in found if not isinstance(value, Mapping | list)]

    return get


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tag_values(view: View, key: str) -> list[str]:
    return [str(t.get("Value", "")) for t in view.get("Tags") or [] if t.get("Key") == key]


def tag_keys(view: View) -> list[str]:
    return [str(t.get("Key")) for t in view.get("Tags") or []]


@lru_cache(maxsize=512)
def _pattern(value: str) -> re.Pattern[str]:
    out: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL)


def matches(pattern: str, values: Iterable[str]) -> bool:
    compiled = _pattern(pattern)
    return any(compiled.fullmatch(value) for value in values)


def predicate(
    filters: Sequence[Mapping[str, Any]] | None, table: Mapping[str, Getter]
) -> Predicate:
    """One test for all the request's filters; unknown filter names are refused up front."""
    checks: list[tuple[Getter, list[str]]] = []
    for item in filters or ():
        name = str(item.get("Name") or "")
        values = [str(v) for v in item.get("Values") or []]
        getter = _getter(name, table)
        if not values:
            raise InvalidParameterValue(f"The filter '{name}' requires at least one value")
        checks.append((getter, values))

    def test(view: View) -> bool:
        for getter, values in checks:
            have = list(getter(view))
            if not any(matches(value, have) for value in values):
                return False
        return True

    return test


def _getter(name: str, table: Mapping[str, Getter]) -> Getter:
    if name.startswith("tag:") and len(name) > 4:
        key = name[4:]
        return lambda view: tag_values(view, key)
    if name == "tag-key":
        return tag_keys
    getter = table.get(name)
    if getter is None:
        raise InvalidParameterValue(f"The filter '{name}' is invalid")
    return getter
