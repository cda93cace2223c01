"""Conditions: the grammar shared by a step's `if` and the Assert module.

A condition is a mapping holding exactly one operator: a logical one (`and`, `or`, `not`) or a
comparison (`stringEquals: baseline` + `value: x`, `fileExists: path`, ...). Comparisons test
*value OP baseline*, e.g. `numberLessThan: 2, value: 1` is true. `stringEquals` is exact;
the string ordering operators compare case-insensitively (the AWS docs disagree with themselves;
this follows each operator's own example).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kiln.toe.expressions import TEMPLATE

MAX_DEPTH = 4
LOGICAL = ("and", "or", "not")
STRING_UNARY = ("stringIsEmpty", "stringIsWhitespace")
STRING_BINARY = (
    "stringEquals",
    "stringLessThan",
    "stringLessThanEquals",
    "stringGreaterThan",
    "stringGreaterThanEquals",
)
NUMBER = (
    "numberEquals",
    "numberLessThan",
    "numberLessThanEquals",
    "numberGreaterThan",
    "numberGreaterThanEquals",
)
HASHES = {
    "fileMD5Equals": "MD5",
    "fileSHA1Equals": "SHA1",
    "fileSHA256Equals": "SHA256",
    "fileSHA512Equals": "SHA512",
}
FILES = ("binaryExists", "fileExists", "folderExists")
COMPARISONS = (
    *STRING_UNARY,
    *STRING_BINARY,
    *NUMBER,
    "patternMatches",
    "booleanEquals",
    *FILES,
    *HASHES,
)
OPERATORS = (*LOGICAL, *COMPARISONS)
IF_ACTIONS = ("Abort", "Execute", "Skip")
_NUMBER = re.compile(r"^[-+]?([0-9]+[.])?[0-9]+$")

Fault = tuple[tuple[str | int, ...], str]


class Probe(Protocol):
    """File-system questions asked of the instance."""

    def binary_exists(self, name: str) -> bool: ...
    def file_exists(self, path: str) -> bool: ...
    def folder_exists(self, path: str) -> bool: ...
    def file_hash(self, path: str, algorithm: str) -> str | None: ...


def check(node: Any, *, allow_actions: bool) -> list[Fault]:
    """Every fault of a condition (paths relative to the node). Runs nothing."""
    if not isinstance(node, Mapping):
        return [((), "must be a mapping holding one operator")]
    faults: list[Fault] = []
    if allow_actions:
        for key in ("then", "else"):
            if key in node and node[key] not in IF_ACTIONS:
                faults.append(((key,), f"must be one of {', '.join(IF_ACTIONS)}"))
    _check(node, (), 1, faults, allow_actions=allow_actions)
    return faults


def _check(
    node: Any, path: tuple[str | int, ...], depth: int, faults: list[Fault], *, allow_actions: bool
) -> None:
    if not isinstance(node, Mapping):
        faults.append((path, "must be a mapping holding one operator"))
        return
    extra = ("then", "else") if allow_actions and not path else ()
    ops = [k for k in node if k in OPERATORS]
    unknown = [k for k in node if k not in OPERATORS and k not in ("value", "path", *extra)]
    for key in unknown:
        faults.append(((*path, str(key)), f"unknown operator '{key}'"))
    if len(ops) != 1:
        if not unknown:
            found = ", ".join(ops) if ops else "none"
            faults.append((path, f"must hold exactly one operator (found {found})"))
        return
    op = ops[0]
    if op in LOGICAL:
        if depth > MAX_DEPTH:
            faults.append(((*path, op), f"logical operators nest deeper than {MAX_DEPTH} levels"))
            return
        for key in ("value", "path"):
            if key in node:
                faults.append(((*path, key), f"'{key}' is not allowed beside '{op}'"))
        _check_logical(node[op], (*path, op), op, depth, faults)
        return
    _check_comparison(node, path, op, faults)


def _check_logical(
    arg: Any, path: tuple[str | int, ...], op: str, depth: int, faults: list[Fault]
) -> None:
    items = arg if isinstance(arg, list) else [arg] if op == "not" else None
    if items is None or not items:
        faults.append((path, f"'{op}' takes a non-empty list of conditions"))
        return
    if op == "not" and len(items) != 1:
        faults.append((path, "'not' takes exactly one condition"))
    for index, item in enumerate(items):
        sub = (*path, index) if isinstance(arg, list) else path
        _check(item, sub, depth + 1, faults, allow_actions=False)


def _check_comparison(
    node: Mapping[str, Any], path: tuple[str | int, ...], op: str, faults: list[Fault]
) -> None:
    baseline = node[op]
    at = (*path, op)
    if isinstance(baseline, Mapping | list):
        faults.append((at, f"'{op}' takes a scalar, not a {type(baseline).__name__}"))
        return
    needs_value = op in STRING_BINARY or op in NUMBER or op in ("patternMatches", "booleanEquals")
    if needs_value and "value" not in node:
        faults.append((path, f"'{op}' needs a 'value' to compare"))
    if op in HASHES and "path" not in node:
        faults.append((path, f"'{op}' needs the 'path' of the file to hash"))
    if op not in HASHES and "path" in node:
        faults.append(((*path, "path"), f"'path' is not allowed with '{op}'"))
    if "value" in node and isinstance(node["value"], Mapping | list):
        faults.append(((*path, "value"), "must be a scalar"))
    if op in NUMBER and not _templated(baseline) and _number(baseline) is None:
        faults.append((at, f"'{op}' needs a number, got {baseline!r}"))
    if op == "patternMatches" and not _templated(baseline):
        try:
            re.compile(str(baseline))
        except re.error as exc:
            faults.append((at, f"invalid regular expression: {exc}"))
    if op in FILES and (baseline is None or str(baseline) == ""):
        faults.append((at, f"'{op}' needs a non-empty name or path"))


def _templated(value: Any) -> bool:
    return isinstance(value, str) and TEMPLATE.search(value) is not None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def evaluate(node: Mapping[str, Any], probe: Probe) -> bool:
    """Evaluate an (already expanded, already checked) condition; and/or short-circuit."""
    op = next(k for k in node if k in OPERATORS)
    arg = node[op]
    if op in LOGICAL:
        items = arg if isinstance(arg, list) else [arg]
        if op == "and":
            return all(evaluate(item, probe) for item in items)
        if op == "or":
            return any(evaluate(item, probe) for item in items)
        return not evaluate(items[0], probe)
    return _compare(op, arg, node.get("value"), node.get("path"), probe)


def _compare(op: str, baseline: Any, value: Any, path: Any, probe: Probe) -> bool:
    if op in STRING_UNARY:
        subject = _text(value if value is not None else baseline)
        return subject == "" if op == "stringIsEmpty" else subject.strip() == ""
    if op in STRING_BINARY:
        return _ORDER[op.removeprefix("string")](
            _text(value), _text(baseline), fold=op != "stringEquals"
        )
    if op in NUMBER:
        left, right = _number(value), _number(baseline)
        if left is None or right is None:
            return False
        return _ORDER[op.removeprefix("number")](left, right, fold=False)
    if op == "patternMatches":
        return re.search(_text(baseline), _text(value)) is not None
    if op == "booleanEquals":
        return _text(value).lower() == _text(baseline).lower()
    if op == "binaryExists":
        return probe.binary_exists(_text(baseline))
    if op == "fileExists":
        return probe.file_exists(_text(baseline))
    if op == "folderExists":
        return probe.folder_exists(_text(baseline))
    digest = probe.file_hash(_text(path), HASHES[op])
    return digest is not None and digest.lower() == _text(baseline).strip().lower()


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(left: Any, right: Any, *, fold: bool) -> bool:
        if fold and isinstance(left, str) and isinstance(right, str):
            left, right = left.casefold(), right.casefold()
        return test(left, right)

    return compare


_ORDER: dict[str, Callable[..., bool]] = {
    "Equals": _ordered(lambda a, b: a == b),
    "LessThan": _ordered(lambda a, b: a < b),
    "LessThanEquals": _ordered(lambda a, b: a <= b),
    "GreaterThan": _ordered(lambda a, b: a > b),
    "GreaterThanEquals": _ordered(lambda a, b: a >= b),
}
