"""AMI name and container tag templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiln.core.nametemplate import (
    InvalidNameTemplateError,
    NameKind,
    format_build_date,
    parse_name_template,
    render_ami_name,
    render_container_tag,
)

WHEN = datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)


def test_build_date_format() -> None:
    assert format_build_date(WHEN) == "2024-05-01T10-20-30.123Z"
    plus2 = WHEN.astimezone(timezone(timedelta(hours=2)))
    assert format_build_date(plus2) == "2024-05-01T10-20-30.123Z"


def test_build_date_needs_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_build_date(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("my-ami {{ imagebuilder:buildDate }}", "my-ami 2024-05-01T10-20-30.123Z"),
        ("my-ami {{imagebuilder:buildDate}}", "my-ami 2024-05-01T10-20-30.123Z"),
        ("Name {{  imagebuilder:buildVersion  }}", "Name 7"),
        ("a-{{imagebuilder:buildVersion}}-{{ imagebuilder:buildDate }}", None),
        ("plain (v1) [x] ./-'@_", "plain (v1) [x] ./-'@_"),
    ],
)
def test_render_ami_name(template: str, expected: str | None) -> None:
    name = render_ami_name(template, build_date=WHEN, build_version=7)
    if expected is None:
        expected = "a-7-2024-05-01T10-20-30.123Z"
    assert name == expected


def test_render_container_tag() -> None:
    tag = render_container_tag(
        "v{{ imagebuilder:buildVersion }}-{{imagebuilder:buildDate}}",
        build_date=WHEN,
        build_version=3,
    )
    assert tag == "v3-2024-05-01T10-20-30.123Z"


def test_variables_reported() -> None:
    template = parse_name_template("x {{ imagebuilder:buildDate }} {{imagebuilder:buildDate}}")
    assert template.variables == {"buildDate"}
    assert template.kind is NameKind.AMI


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("ami {{ imagebuilder:buildTime }}", "unknown variable 'imagebuilder:buildTime'"),
        ("ami {{ imagebuilder:builddate }}", "unknown variable 'imagebuilder:builddate'"),
        ("ami {{ buildDate }}", "unknown variable 'buildDate'"),
        ("ami {{ aws:buildDate }}", "unknown variable 'aws:buildDate'"),
        ("ami {{}}", "unknown variable ''"),
        ("ami { imagebuilder:buildDate }", "'{' and '}' are only allowed"),
        ("ami {{ imagebuilder:buildDate }", "'{' and '}' are only allowed"),
        ("ami: x", "character ':' is not allowed"),
        ("ami\tx", "character '\\t' is not allowed"),
        ("ami#1", "character '#' is not allowed"),
        ("x" * 128, "length 128 is not between 1 and 127"),
        ("", "length 0"),
    ],
)
def test_invalid_ami_templates(template: str, fragment: str) -> None:
    with pytest.raises(InvalidNameTemplateError) as info:
        render_ami_name(template, build_date=WHEN, build_version=1)
    assert fragment in info.value.message
    assert info.value.code == "InvalidParameterValueException"


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("ab", "is invalid: an AMI name has 3 to 127"),
        ("x" * 97 + "{{imagebuilder:buildVersion}}", "is invalid"),  # 138 chars after render
    ],
)
def test_rendered_ami_name_checked(template: str, fragment: str) -> None:
    with pytest.raises(InvalidNameTemplateError, match=re.escape(fragment)):
        render_ami_name(template, build_date=WHEN, build_version=10**40)


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("latest tag", "character ' ' is not allowed"),
        ("-{{ imagebuilder:buildVersion }}", "is invalid: a tag has"),
        ("v(1)", "character '(' is not allowed"),
        ("{{ imagebuilder:nope }}", "unknown variable"),
    ],
)
def test_invalid_container_tags(template: str, fragment: str) -> None:
    with pytest.raises(InvalidNameTemplateError, match=re.escape(fragment)):
        render_container_tag(template, build_date=WHEN, build_version=1)


@given(
    st.text(alphabet="abcXYZ019 ()[]./-'@_", min_size=3, max_size=60),
    st.integers(1, 10**6),
    st.datetimes(timezones=st.just(UTC)),
)
def test_rendering_inserts_exact_values(prefix: str, version: int, when: datetime) -> None:
    name = render_ami_name(
        prefix + "{{imagebuilder:buildVersion}}|{{ imagebuilder:buildDate }}".replace("|", "_"),
        build_date=when,
        build_version=version,
    )
    assert name == f"{prefix}{version}_{format_build_date(when)}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z", format_build_date(when))
