"""Output-name templates: AMI names and container distribution tags.

Image Builder substitutes two variables per build, written ``{{ imagebuilder:buildDate }}`` and
``{{ imagebuilder:buildVersion }}`` (spaces inside the braces optional)::

    "my-ami {{ imagebuilder:buildDate }}"   ->  "my-ami 2024-05-01T10-20-30.123Z"
    "app-{{imagebuilder:buildVersion}}"     ->  "app-3"

The build date is UTC in the form ``YYYY-MM-DDTHH-MM-SS.mmmZ`` (colons are not allowed in AMI
names), the build version is the image's build number. The rendered text must be a valid EC2 AMI
name (3-127 characters of letters, digits, space and ``( ) [ ] . / - ' @ _``) or, for a
container tag, a valid OCI tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from kiln.core.errors import ClientError

__all__ = [
    "InvalidNameTemplateError",
    "NameKind",
    "NameTemplate",
    "format_build_date",
    "parse_name_template",
    "render_ami_name",
    "render_container_tag",
]

VARIABLES = ("buildDate", "buildVersion")
_VARIABLE = re.compile(r"\{\{\s*(?P<name>[^{}\s]*)\s*\}\}")
_AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,127}")
_AMI_CHARS = re.compile(r"[^A-Za-z0-9()\[\] ./\-'@_]")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_TAG_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


class InvalidNameTemplateError(ClientError):
    """A name template Image Builder would refuse, or one that renders to an invalid name."""

    code = "InvalidParameterValueException"


class NameKind(StrEnum):
    AMI = "AMI name"
    CONTAINER_TAG = "container image tag"


@dataclass(frozen=True, slots=True)
class NameTemplate:
    """A validated template: literal text and variable names, alternating as parsed."""

    text: str
    kind: NameKind
    parts: tuple[str | _Var, ...]

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, _Var))

    def render(self, *, build_date: datetime, build_version: int) -> str:
        """The name for one build; InvalidNameTemplateError if the result is not a valid name."""
        values = {"buildDate": format_build_date(build_date), "buildVersion": str(build_version)}
        name = "".join(values[p.name] if isinstance(p, _Var) else p for p in self.parts)
        pattern = _AMI_NAME if self.kind is NameKind.AMI else _TAG
        if not pattern.fullmatch(name):
            raise InvalidNameTemplateError(
                f"The {self.kind} {name!r} rendered from {self.text!r} is invalid: "
                f"{_describe(self.kind)}."
            )
        return name


@dataclass(frozen=True, slots=True)
class _Var:
    name: str


def format_build_date(moment: datetime) -> str:
    """``2024-05-01T10-20-30.123Z``: the build date as Image Builder writes it into names."""
    if moment.tzinfo is None:
        raise ValueError("the build date must be an aware datetime")
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}-{utc.minute:02d}-{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def parse_name_template(template: str, *, kind: NameKind = NameKind.AMI) -> NameTemplate:
    """Validate a name template: known variables only, allowed characters around them."""
    parts: list[str | _Var] = []
    position = 0
    for match in _VARIABLE.finditer(template):
        parts.append(template[position : match.start()])
        parts.append(_variable(template, match.group("name")))
        position = match.end()
    parts.append(template[position:])
    literal = "".join(p for p in parts if isinstance(p, str))
    if "{" in literal or "}" in literal:
        raise InvalidNameTemplateError(
            f"Invalid {kind} template {template!r}: '{{' and '}}' are only allowed in "
            "{{ imagebuilder:buildDate }} and {{ imagebuilder:buildVersion }}."
        )
    bad = (_AMI_CHARS if kind is NameKind.AMI else _TAG_CHARS).search(literal)
    if bad:
        raise InvalidNameTemplateError(
            f"Invalid {kind} template {template!r}: character {bad.group()!r} is not allowed; "
            f"{_describe(kind)}."
        )
    if not 1 <= len(template) <= 127:
        raise InvalidNameTemplateError(
            f"Invalid {kind} template: length {len(template)} is not between 1 and 127."
        )
    return NameTemplate(text=template, kind=kind, parts=tuple(p for p in parts if p != ""))


def render_ami_name(template: str, *, build_date: datetime, build_version: int) -> str:
    """Validate and render an AMI name template."""
    return parse_name_template(template, kind=NameKind.AMI).render(
        build_date=build_date, build_version=build_version
    )


def render_container_tag(template: str, *, build_date: datetime, build_version: int) -> str:
    """Validate and render a container distribution tag template."""
    return parse_name_template(template, kind=NameKind.CONTAINER_TAG).render(
        build_date=build_date, build_version=build_version
    )


def _variable(template: str, name: str) -> _Var:
    prefix, colon, variable = name.partition(":")
    if prefix != "imagebuilder" or not colon or variable not in VARIABLES:
        known = ", ".join(f"{{{{ imagebuilder:{v} }}}}" for v in VARIABLES)
        raise InvalidNameTemplateError(
            f"Invalid name template {template!r}: unknown variable {name!r}; "
            f"supported variables are {known}."
        )
    return _Var(variable)


def _describe(kind: NameKind) -> str:
    if kind is NameKind.AMI:
        return (
            "an AMI name has 3 to 127 characters: letters, numbers, spaces and ( ) [ ] . / - ' @ _"
        )
    return (
        "a tag has 1 to 128 characters: letters, numbers and _ . -, and does not start with . or -"
    )
