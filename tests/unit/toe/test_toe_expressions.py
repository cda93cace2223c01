"""References and conditions as pure functions (hypothesis where the input space is large)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiln.toe import conditions
from kiln.toe.expressions import (
    LoopFrame,
    Reference,
    Scope,
    UnresolvedReferenceError,
    expand,
    expand_text,
    parse_reference,
)


def _no_chain(ref: Reference) -> str:
    raise UnresolvedReferenceError(ref.text)


def scope(**variables: str) -> Scope:
    return Scope(variables, chain=_no_chain)


@given(st.text())
def test_substitution_is_single_pass(value):
    s = scope(Param=value, Other="EXPANDED")
    assert expand_text("{{ Param }}", s) == value
    assert expand_text("<{{Param}}>", s) == f"<{value}>"


@given(st.text(alphabet="{} $()`;\"'ab\\\n", max_size=40))
def test_values_with_braces_are_never_re_expanded(value):
    s = scope(Param=value, Other="EXPANDED")
    out = expand({"k": ["{{ Param }}", 3]}, s)
    assert out == {"k": [value, 3]}


def test_reference_kinds():
    assert parse_reference(" build.Step.outputs.stdout ").kind == "chain"
    chained = parse_reference("build.Download.inputs[0].destination")
    assert (chained.phase, chained.step, chained.which, chained.index, chained.field) == (
        "build",
        "Download",
        "inputs",
        0,
        "destination",
    )
    assert parse_reference("loop.index").kind == "loop"
    assert parse_reference("aws:ssm:/my/param").kind == "ssm"
    assert parse_reference("a b").kind == "invalid"


def test_loop_variables_and_verbatim_outside_loops():
    inside = Scope({}, chain=_no_chain, loop=LoopFrame("named", 2, "v"))
    assert expand_text("{{ loop.index }} {{ named.value }}", inside) == "2 v"
    assert expand_text("{{ loop.value }}", scope()) == "{{ loop.value }}"


def test_unknown_variable_and_ssm_fail():
    with pytest.raises(UnresolvedReferenceError):
        expand_text("{{ Missing }}", scope())
    with pytest.raises(UnresolvedReferenceError, match="SSM"):
        expand_text("{{ aws:ssm:/x }}", scope())


class NoFiles:
    def binary_exists(self, name: str) -> bool:
        return name == "bash"

    def file_exists(self, path: str) -> bool:
        return path == "/etc/file"

    def folder_exists(self, path: str) -> bool:
        return path == "/etc"

    def file_hash(self, path: str, algorithm: str) -> str | None:
        return "abc" if path == "/etc/file" else None


CASES = [
    ({"stringEquals": "TESTING", "value": "TESTING"}, True),
    ({"stringEquals": "TESTING", "value": "Testing"}, False),
    ({"stringLessThan": "b", "value": "a"}, True),
    ({"stringLessThan": "a", "value": "A"}, False),
    ({"stringLessThanEquals": "a", "value": "A"}, True),
    ({"stringGreaterThan": "1", "value": "a"}, True),
    ({"stringGreaterThanEquals": "b", "value": "b"}, True),
    ({"stringIsEmpty": ""}, True),
    ({"stringIsWhitespace": " \t"}, True),
    ({"stringIsWhitespace": " x "}, False),
    ({"numberEquals": 2, "value": "2.0"}, True),
    ({"numberLessThan": 2, "value": 1}, True),
    ({"numberLessThan": 2, "value": 3}, False),
    ({"numberLessThanEquals": "-1.5", "value": "-1.5"}, True),
    ({"numberGreaterThan": 2, "value": "abc"}, False),
    ({"numberGreaterThanEquals": 2, "value": 2}, True),
    ({"patternMatches": "^v[0-9]+$", "value": "v12"}, True),
    ({"patternMatches": "^v[0-9]+$", "value": "x12"}, False),
    ({"booleanEquals": True, "value": "true"}, True),
    ({"binaryExists": "bash"}, True),
    ({"fileExists": "/etc/file"}, True),
    ({"folderExists": "/etc/file"}, False),
    ({"fileSHA256Equals": "ABC", "path": "/etc/file"}, True),
    ({"fileMD5Equals": "abc", "path": "/missing"}, False),
    ({"and": [{"fileExists": "/etc/file"}, {"not": {"binaryExists": "zsh"}}]}, True),
    ({"or": [{"fileExists": "/nope"}, {"folderExists": "/etc"}]}, True),
    ({"not": [{"folderExists": "/etc"}]}, False),
]


@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_condition_operators(condition, expected):
    assert conditions.check(condition, allow_actions=False) == []
    assert conditions.evaluate(condition, NoFiles()) is expected


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_number_operators_compare_value_to_baseline(value, baseline):
    def holds(op: str) -> bool:
        return conditions.evaluate({op: baseline, "value": str(value)}, NoFiles())

    assert holds("numberLessThan") is (value < baseline)
    assert holds("numberGreaterThanEquals") is (value >= baseline)
    assert holds("numberEquals") is (value == baseline)
