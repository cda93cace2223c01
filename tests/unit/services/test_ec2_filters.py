"""EC2 filter values: `*` and `?` wildcards, backslash escapes, every filter must match."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiln.services.ec2 import filters
from kiln.services.ec2.errors import InvalidParameterValue

TABLE = {"name": filters.member("Name"), "size": filters.member("Disks", "Ebs", "Size")}
VIEW = {
    "Name": "web-1.0",
    "Disks": [{"Ebs": {"Size": 8}}, {"Ebs": {"Size": 20}}],
    "Tags": [{"Key": "Team", "Value": "web"}],
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web-1.0", True),
        ("web-*", True),
        ("web-?.?", True),
        ("web-?", False),
        ("*", True),
        ("web\\*", False),
        ("WEB-1.0", False),
    ],
)
def test_wildcards(pattern: str, expected: bool) -> None:
    assert filters.matches(pattern, ["web-1.0"]) is expected


def test_escaped_wildcards_match_themselves() -> None:
    assert filters.matches("a\\*b\\?", ["a*b?"]) and not filters.matches("a\\*b", ["axb"])


def test_every_filter_must_match_one_of_its_values() -> None:
    test = filters.predicate(
        [{"Name": "name", "Values": ["db-*", "web-*"]}, {"Name": "size", "Values": ["20"]}], TABLE
    )
    assert test(VIEW)
    assert not filters.predicate([{"Name": "size", "Values": ["9"]}], TABLE)(VIEW)
    assert filters.predicate([{"Name": "tag:Team", "Values": ["w?b"]}], TABLE)(VIEW)
    assert not filters.predicate([{"Name": "tag:Env", "Values": ["*"]}], TABLE)(VIEW)
    assert filters.predicate([{"Name": "tag-key", "Values": ["Team"]}], TABLE)(VIEW)


def test_unknown_or_empty_filters_are_refused() -> None:
    with pytest.raises(InvalidParameterValue, match="colour"):
        filters.predicate([{"Name": "colour", "Values": ["red"]}], TABLE)
    with pytest.raises(InvalidParameterValue, match="name"):
        filters.predicate([{"Name": "name", "Values": []}], TABLE)


@given(st.text(alphabet="ab*?.\\", max_size=8), st.text(alphabet="ab*?.", max_size=8))
def test_wildcards_agree_with_fnmatch_semantics(pattern: str, text: str) -> None:
    """Same answer as a regex built independently: * any run, ? one char, \\x literal x."""
    regex = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += {"*": ".*", "?": "."}.get(char, re.escape(char))
        i += 1
    assert filters.matches(pattern, [text]) is bool(re.fullmatch(regex, text, re.DOTALL))
