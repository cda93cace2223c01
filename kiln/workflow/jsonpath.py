"""The JSONPath subset of workflow documents: ``$.a.b``, ``$.a[0]``, ``$.a.b[1].c``.

A path is evaluated against the step's context (``parameters``, ``stepOutputs``,
``workflowOutputs``, ``imagebuilder``). Inside any string, ``{{ $.path }}`` is replaced by the
value at the path (strings as they are, other values as JSON); a path outside ``{{ }}`` is
literal text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kiln.core.errors import KilnError

__all__ = ["JsonPath", "JsonPathError", "interpolate", "parse_path", "template_paths"]

_SEGMENT = re.compile(r"\.(?P<name>[A-Za-z0-9_\-]+)|\[(?P<index>\d+)\]")
_TEMPLATE = re.compile(r"\{\{\s*(?P<path>\$[^{}]*?)\s*\}\}")


class JsonPathError(KilnError):
    """A malformed path, or a path that does not resolve in the context."""


@dataclass(frozen=True, slots=True)
class JsonPath:
    text: str
    segments: tuple[str | int, ...]

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        value: Any = context
        walked = "$"
        for segment in self.segments:
            if isinstance(segment, int):
                if not isinstance(value, Sequence) or isinstance(value, str):
                    raise JsonPathError(f"{self.text}: {walked} is not a list")
                if segment >= len(value):
                    raise JsonPathError(f"{self.text}: {walked} has no element [{segment}]")
                value = value[segment]
                walked += f"[{segment}]"
            else:
                if not isinstance(value, Mapping):
                    raise JsonPathError(f"{self.text}: {walked} is not an object")
                if segment not in value:
                    raise JsonPathError(f"{self.text}: {walked} has no member {segment!r}")
                value = value[segment]
                walked += f".{segment}"
        return value


def parse_path(text: str) -> JsonPath:
    """Parse ``$`` followed by ``.name`` and ``[index]`` segments."""
    if not text.startswith("$"):
        raise JsonPathError(f"{text!r} is not a JSONPath: it must start with '$'")
    segments: list[str | int] = []
    position = 1
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            raise JsonPathError(f"{text!r} is not a valid JSONPath: unexpected {text[position:]!r}")
        name, index = match.group("name"), match.group("index")
        segments.append(name if name is not None else int(index))
        position = match.end()
    if not segments:
        raise JsonPathError(f"{text!r} is not a valid JSONPath: it selects nothing")
    return JsonPath(text=text, segments=tuple(segments))


def template_paths(text: str) -> list[str]:
    """The path texts inside ``{{ }}`` in a string."""
    return [m.group("path") for m in _TEMPLATE.finditer(text)]


def interpolate(text: str, context: Mapping[str, Any]) -> str:
    """Replace each ``{{ $.path }}`` in ``text`` by its value in ``context``."""

    def value(match: re.Match[str]) -> str:
        found = parse_path(match.group("path")).evaluate(context)
        return found if isinstance(found, str) else json.dumps(found)

    return _TEMPLATE.sub(value, text)
