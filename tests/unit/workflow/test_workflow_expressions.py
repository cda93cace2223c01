"""Workflow JSONPath subset, interpolation, and `if` conditions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiln.workflow import ConditionError, JsonPathError, evaluate_condition, interpolate, parse_path
from kiln.workflow.conditions import check_condition

CONTEXT: dict[str, Any] = {
    "parameters": {"flag": True, "count": 3, "name": "x"},
    "stepOutputs": {"Snap": {"output": ["a", {"c": 7}]}},
    "imagebuilder": {"imageType": "AMI", "platform": "Linux", "collectImageMetadata": "true"},
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$.parameters.flag", True),
        ("$.stepOutputs.Snap.output[0]", "a"),
        ("$.stepOutputs.Snap.output[1].c", 7),
        ("$.imagebuilder", CONTEXT["imagebuilder"]),
    ],
)
def test_evaluate(path: str, value: Any) -> None:
    assert parse_path(path).evaluate(CONTEXT) == value


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("$.parameters.missing", "has no member 'missing'"),
        ("$.stepOutputs.Snap.output[5]", "has no element [5]"),
        ("$.parameters.flag.x", "is not an object"),
        ("$.parameters[0]", "is not a list"),
    ],
)
def test_evaluate_errors(path: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_path(path).evaluate(CONTEXT)


@pytest.mark.parametrize("bad", ["parameters.x", "$", "$.a..b", "$.a[-1]", "$.a b", "$['a']"])
def test_malformed_paths(bad: str) -> None:
    with pytest.raises(JsonPathError):
        parse_path(bad)


def test_interpolate() -> None:
    text = (
        '{"n": "{{ $.parameters.name }}", "c": {{$.parameters.count}}, "lit": "$.parameters.name"}'
    )
    assert interpolate(text, CONTEXT) == '{"n": "x", "c": 3, "lit": "$.parameters.name"}'


@given(
    st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True), st.integers())
)
def test_path_round_trip(values: dict[str, int]) -> None:
    for key, value in values.items():
        assert parse_path(f"$.v.{key}").evaluate({"v": values}) == value


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"booleanEquals": True, "value": "$.parameters.flag"}, True),
        ({"booleanEquals": True, "value": "$.imagebuilder.collectImageMetadata"}, True),
        ({"stringEquals": "AMI", "value": "$.imagebuilder.imageType"}, True),
        ({"stringEquals": "DOCKER", "value": "$.imagebuilder.imageType"}, False),
        ({"numberEquals": "3", "value": "$.parameters.count"}, True),
        ({"numberGreaterThan": 2, "value": "$.parameters.count"}, False),  # 2 > 3
        ({"numberLessThan": 5, "value": 4}, False),
        ({"numberLessThanEquals": 3, "value": "$.parameters.count"}, True),
        ({"numberGreaterThanEquals": 3, "value": 3}, True),
        ({"not": {"stringEquals": "Windows", "value": "$.imagebuilder.platform"}}, True),
        (
            {
                "and": [
                    {"stringEquals": "AMI", "value": "$.imagebuilder.imageType"},
                    {
                        "or": [
                            {"booleanEquals": False, "value": True},
                            {"numberEquals": 1, "value": 1},
                        ]
                    },
                ]
            },
            True,
        ),
    ],
)
def test_evaluate_condition(condition: dict[str, Any], expected: bool) -> None:
    assert check_condition(condition, "if") == []
    assert evaluate_condition(condition, CONTEXT) is expected


def test_condition_type_errors_at_run_time() -> None:
    with pytest.raises(ConditionError, match="needs a number"):
        evaluate_condition({"numberEquals": 1, "value": "$.parameters.name"}, CONTEXT)
    with pytest.raises(ConditionError, match="needs a boolean"):
        evaluate_condition({"booleanEquals": True, "value": "$.parameters.count"}, CONTEXT)
