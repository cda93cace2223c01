"""YAML loading that remembers where every key and item came from (line numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from kiln.toe.errors import DocumentInvalidError, Problem

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True)
class Source:
    """Parsed YAML data plus the 1-based line of every mapping key and sequence item."""

    data: Any
    lines: Mapping[Path, int]
    duplicates: tuple[tuple[Path, int], ...]

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor known."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None


def load_yaml(text: str) -> Source:
    """Parse one YAML document; a syntax error becomes a DocumentInvalidError with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        hint = ""
        if "unhashable" in str(exc.problem) or "found unhashable key" in str(exc):
            hint = " (a '{{ ... }}' reference must be inside a quoted string)"
        raise DocumentInvalidError(
            [Problem(where, f"YAML syntax error: {exc.problem or exc}{hint}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise DocumentInvalidError([Problem("document", f"YAML error: {exc}")]) from exc
    lines: dict[Path, int] = {}
    duplicates: list[tuple[Path, int]] = []
    if node is not None:
        _walk(node, (), lines, duplicates, depth=0)
    return Source(data=data, lines=lines, duplicates=tuple(duplicates))


def _walk(
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    duplicates: list[tuple[Path, int]],
    *,
    depth: int,
) -> None:
    if depth > 64:
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                duplicates.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, duplicates, depth=depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, duplicates, depth=depth + 1)
