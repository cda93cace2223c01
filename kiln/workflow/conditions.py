"""Workflow step ``if`` conditions: their grammar, and their evaluation.

A condition is one statement: a branch (``and`` / ``or`` with 1-10 child statements), a
modifier (``not`` with one child statement), or a comparison (an operator key beside a
``value`` key). At most four levels deep. Either side of a comparison may be a JSONPath
(``$.imagebuilder.imageType``) that is resolved in the step's context before comparing.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kiln.core.errors import KilnError
from kiln.workflow.jsonpath import parse_path

__all__ = [
    "COMPARISONS",
    "ConditionError",
    "ConditionProblem",
    "check_condition",
    "condition_paths",
    "evaluate_condition",
]

MAX_LEVELS = 4
MAX_BRANCHES = 10
BRANCHES = ("and", "or")
_NUMBER_OPS: dict[str, Callable[[float, float], bool]] = {
    "numberEquals": operator.eq,
    "numberGreaterThan": operator.gt,
    "numberGreaterThanEquals": operator.ge,
    "numberLessThan": operator.lt,
    "numberLessThanEquals": operator.le,
}
COMPARISONS = ("booleanEquals", *_NUMBER_OPS, "stringEquals")


class ConditionError(KilnError):
    """A condition cannot be evaluated (an operand of the wrong type, a missing path)."""


@dataclass(frozen=True, slots=True)
class ConditionProblem:
    location: str
    message: str


def check_condition(node: Any, location: str, level: int = 1) -> list[ConditionProblem]:
    """Every grammar problem of a condition; ``location`` names the ``if`` itself."""
    if level > MAX_LEVELS:
        return [ConditionProblem(location, f"conditions nest at most {MAX_LEVELS} levels deep")]
    if not isinstance(node, Mapping) or not node:
        return [ConditionProblem(location, "a condition must be a non-empty mapping")]
    keys = set(node)
    statements = [k for k in keys if k in BRANCHES or k == "not" or k in COMPARISONS]
    if len(statements) != 1:
        found = ", ".join(sorted(map(str, keys)))
        return [
            ConditionProblem(
                location,
                "a condition holds exactly one of and, or, not or a comparison operator "
                f"({', '.join(COMPARISONS)}); found: {found}",
            )
        ]
    (key,) = statements
    here = f"{location}.{key}"
    if key in BRANCHES:
        extra = keys - {key}
        problems = [ConditionProblem(f"{location}.{k}", f"unexpected key {k!r}") for k in extra]
        children = node[key]
        if not isinstance(children, list) or not 1 <= len(children) <= MAX_BRANCHES:
            return [
                *problems,
                ConditionProblem(here, f"{key} takes a list of 1 to {MAX_BRANCHES} conditions"),
            ]
        for i, child in enumerate(children):
            problems += check_condition(child, f"{here}[{i}]", level + 1)
        return problems
    if key == "not":
        extra = keys - {key}
        problems = [ConditionProblem(f"{location}.{k}", f"unexpected key {k!r}") for k in extra]
        return problems + check_condition(node[key], here, level + 1)
    return _check_comparison(node, key, location)


def _check_comparison(node: Mapping[str, Any], key: str, location: str) -> list[ConditionProblem]:
    problems = [
        ConditionProblem(f"{location}.{k}", f"unexpected key {k!r} beside {key}")
        for k in node
        if k not in (key, "value")
    ]
    if "value" not in node:
        problems.append(ConditionProblem(location, f"{key} needs a 'value' to compare with"))
    for side in (key, "value"):
        operand = node.get(side)
        if isinstance(operand, Mapping | list) or (side in node and operand is None):
            problems.append(
                ConditionProblem(f"{location}.{side}", "comparison operands are scalar values")
            )
        elif isinstance(operand, str) and operand.startswith("$"):
            continue  # resolved at run time; references are checked by the document
        elif side in node and not _literal_fits(key, operand):
            problems.append(
                ConditionProblem(f"{location}.{side}", f"{operand!r} is not valid for {key}")
            )
    return problems


def _literal_fits(key: str, operand: Any) -> bool:
    try:
        _coerce(key, operand)
    except ConditionError:
        return False
    return True


def condition_paths(node: Any, location: str) -> Iterator[tuple[str, str]]:
    """(location, path text) of every JSONPath operand in a well-formed condition."""
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        here = f"{location}.{key}"
        if key in BRANCHES and isinstance(value, list):
            for i, child in enumerate(value):
                yield from condition_paths(child, f"{here}[{i}]")
        elif key == "not":
            yield from condition_paths(value, here)
        elif isinstance(value, str) and value.startswith("$"):
            yield here, value


def evaluate_condition(node: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether the step runs. The condition must have passed ``check_condition``."""
    if "and" in node:
        return all(evaluate_condition(child, context) for child in node["and"])
    if "or" in node:
        return any(evaluate_condition(child, context) for child in node["or"])
    if "not" in node:
        return not evaluate_condition(node["not"], context)
    key = next(k for k in node if k in COMPARISONS)
    left = _coerce(key, _resolve(node[key], context))
    right = _coerce(key, _resolve(node["value"], context))
    if key in _NUMBER_OPS:
        assert isinstance(left, float)
        assert isinstance(right, float)
        return _NUMBER_OPS[key](left, right)
    return left == right


def _resolve(operand: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(operand, str) and operand.startswith("$"):
        return parse_path(operand).evaluate(context)
    return operand


def _coerce(key: str, value: Any) -> bool | float | str:
    if key == "booleanEquals":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConditionError(f"booleanEquals needs a boolean, got {value!r}")
    if key == "stringEquals":
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConditionError(f"stringEquals needs a string, got {value!r}")
    if isinstance(value, bool):
        raise ConditionError(f"{key} needs a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConditionError(f"{key} needs a number, got {value!r}") from exc
    if math.isnan(number):
        raise ConditionError(f"{key} needs a number, got {value!r}")
    return number
