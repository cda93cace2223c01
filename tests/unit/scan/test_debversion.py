"""dpkg's version comparison, with `dpkg --compare-versions` as the oracle."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.scan.debversion import DebianVersion, InvalidVersionError, compare

KNOWN = [
    ("1.0", "1.0", 0),
    ("1.0", "1.0-0", 0),
    ("1.0~rc1", "1.0", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0+b1", -1),
    ("1.0a", "1.0", 1),
    ("1.0a", "1.0+", -1),  # letters sort before other characters
    ("1:0.1", "9.9", 1),  # the epoch first
    ("2.10", "2.9", 1),  # digits as numbers
    ("2.010", "2.10", 0),  # leading zeros ignored
    ("3.0.19-1~deb12u2", "3.0.19-1", -1),
    ("3.0.19-1~deb12u2", "3.0.19-1~deb12u1", 1),
    ("5.2.15-2+b8", "5.2.15-2", 1),
    ("1.2-3", "1.2-3.1", -1),
    ("7.88.1-10+deb12u12", "7.88.1-10+deb12u5", 1),
]


def _require_dpkg() -> None:
    if shutil.which("dpkg") is None:
        reason = "dpkg (the oracle) is not installed"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _dpkg_compare(a: str, b: str) -> int:
    for op, value in (("lt", -1), ("eq", 0)):
        done = subprocess.run(
            ["dpkg", "--compare-versions", a, op, b], capture_output=True, check=False, timeout=10
        )
        if done.returncode == 0:
            return value
    return 1


@pytest.mark.parametrize(("a", "b", "expected"), KNOWN)
def test_known_orderings(a: str, b: str, expected: int) -> None:
    assert _sign(compare(a, b)) == expected
    assert _sign(compare(b, a)) == -expected


def test_parse_splits_the_epoch_and_the_last_hyphen() -> None:
    assert DebianVersion.parse("2:1.2-3-4") == DebianVersion(2, "1.2-3", "4")
    assert DebianVersion.parse("1.2") == DebianVersion(0, "1.2", "")
    assert str(DebianVersion.parse("1:2.0-1~deb12u1")) == "1:2.0-1~deb12u1"
    assert DebianVersion.parse("1.0") < DebianVersion.parse("1:0.1")


@pytest.mark.parametrize("text", ["", "a1.0", "1.0-", "x:1.0", "1.0-a b", "1.0_2", "١:1.0"])
def test_invalid_versions_are_refused(text: str) -> None:
    with pytest.raises(InvalidVersionError):
        DebianVersion.parse(text)


_PART = st.text(alphabet="0123456789abcz.+~AZ", max_size=7)
_UPSTREAM = st.builds(lambda head, tail: head + tail, st.sampled_from("0123456789"), _PART)
_REVISION = st.text(alphabet="0123456789abz.+~", min_size=1, max_size=6)
VERSIONS = st.builds(
    lambda epoch, upstream, revision: (
        (f"{epoch}:" if epoch is not None else "")
        + upstream
        + (f"-{revision}" if revision is not None else "")
    ),
    st.one_of(st.none(), st.integers(0, 3)),
    _UPSTREAM,
    st.one_of(st.none(), _REVISION),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=VERSIONS, b=VERSIONS)
def test_compare_agrees_with_dpkg(a: str, b: str) -> None:
    _require_dpkg()
    assert _sign(compare(a, b)) == _dpkg_compare(a, b), (a, b)


@settings(max_examples=60, deadline=None)
@given(a=VERSIONS)
def test_close_neighbours_agree_with_dpkg(a: str) -> None:
    _require_dpkg()
    for b in (a + "~", a + "+b1", a + "a", a + "0", a + ".0", a.replace("1", "01")):
        assert _sign(compare(a, b)) == _dpkg_compare(a, b), (a, b)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)
