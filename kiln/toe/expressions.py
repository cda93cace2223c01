"""`{{ ... }}` references: parameters and constants, chaining, loop variables.

Substitution is single-pass: each reference is replaced by its value and the result is never
scanned again, so a value that itself contains `{{ x }}`, `$(...)` or quotes stays plain data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
NAME = re.compile(r"^[A-Za-z0-9_-]{3,128}$")
_CHAIN = re.compile(
    r"^(?P<phase>[^.\[\]\s]+)\.(?P<step>[^.\[\]\s]+)\.(?P<which>inputs|outputs)"
    r"(?:\[(?P<index>\d+)\])?\.(?P<key>[A-Za-z0-9_-]+)$"
)
_LOOPVAR = re.compile(r"^(?P<loop>[A-Za-z0-9_-]+)\.(?P<field>index|value)$")


@dataclass(frozen=True)
class Reference:
    """A parsed `{{ ... }}` body. kind: variable | loop | chain | ssm | invalid."""

    text: str
    kind: str
    name: str = ""  # variable name, or loop name ("loop" for the anonymous one)
    field: str = ""  # loop field (index/value) or chained key
    phase: str = ""
    step: str = ""
    which: str = ""  # inputs | outputs
    index: int | None = None


def parse_reference(body: str) -> Reference:
    text = body.strip()
    if text.startswith("aws:ssm"):
        return Reference(text, "ssm")
    chain = _CHAIN.match(text)
    if chain:
        index = chain.group("index")
        return Reference(
            text,
            "chain",
            field=chain.group("key"),
            phase=chain.group("phase"),
            step=chain.group("step"),
            which=chain.group("which"),
            index=int(index) if index is not None else None,
        )
    loop = _LOOPVAR.match(text)
    if loop:
        return Reference(text, "loop", name=loop.group("loop"), field=loop.group("field"))
    if NAME.match(text):
        return Reference(text, "variable", name=text)
    return Reference(text, "invalid")


def references(value: Any) -> Iterator[tuple[tuple[str | int, ...], Reference]]:
    """Every reference in a nested value, with the path (relative to `value`) holding it."""
    yield from _refs(value, ())


def _refs(
    value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Reference]]:
    if isinstance(value, str):
        for match in TEMPLATE.finditer(value):
            yield path, parse_reference(match.group(1))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _refs(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _refs(item, (*path, index))


class UnresolvedReferenceError(Exception):
    """A reference cannot be resolved at run time (internal; becomes a step failure)."""


@dataclass(frozen=True)
class LoopFrame:
    name: str | None
    index: int
    value: str


Resolver = Callable[[Reference], str | None]


@dataclass(frozen=True)
class Scope:
    """What references resolve against while one step (or one loop iteration) runs."""

    variables: Mapping[str, str]
    chain: Callable[[Reference], str]
    loop: LoopFrame | None = None

    def resolve(self, ref: Reference) -> str | None:
        """The value of `ref`, or None to leave it verbatim."""
        if ref.kind == "variable":
            if ref.name in self.variables:
                return self.variables[ref.name]
            raise UnresolvedReferenceError(f"'{{{{ {ref.text} }}}}' names no parameter or constant")
        if ref.kind == "loop":
            frame = self.loop
            if frame is None or (ref.name != "loop" and ref.name != frame.name):
                return None  # loop references outside their loop are left verbatim
            return str(frame.index) if ref.field == "index" else frame.value
        if ref.kind == "chain":
            return self.chain(ref)
        if ref.kind == "ssm":
            raise UnresolvedReferenceError(
                f"'{{{{ {ref.text} }}}}': SSM Parameter Store is not available to Kiln runs"
            )
        raise UnresolvedReferenceError(f"'{{{{ {ref.text} }}}}' is not a valid reference")


def expand(value: Any, scope: Scope) -> Any:
    """A copy of `value` with every reference in every string replaced (single pass)."""
    if isinstance(value, str):
        return expand_text(value, scope)
    if isinstance(value, Mapping):
        return {key: expand(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item, scope) for item in value]
    return value


def expand_text(text: str, scope: Scope) -> str:
    def replace(match: re.Match[str]) -> str:
        resolved = scope.resolve(parse_reference(match.group(1)))
        return match.group(0) if resolved is None else resolved

    return TEMPLATE.sub(replace, text)
