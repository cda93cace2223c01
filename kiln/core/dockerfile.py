"""Container recipe Dockerfile templates, and a parser of the Dockerfiles they render to.

A container recipe's ``dockerfileTemplateData`` may hold three placeholders::

    FROM {{{ imagebuilder:parentImage }}}
    {{{ imagebuilder:environments }}}
    {{{ imagebuilder:components }}}

``parentImage`` becomes the resolved parent image reference, ``environments`` the ENV lines the
build needs, ``components`` the instructions that run the recipe's components. Spaces inside the
braces are optional. The template is at most 16000 characters and must start (after ARG lines)
with a FROM naming the placeholder or a literal image.

``parse_dockerfile`` reads a rendered Dockerfile into instructions: line continuations, comments,
the ``# escape=`` parser directive, exec (JSON array) and shell forms, and leading ``--flag=value``
options.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kiln.core.errors import ClientError, KilnError

__all__ = [
    "DEFAULT_TEMPLATE",
    "INSTRUCTIONS",
    "PLACEHOLDERS",
    "DockerfileSyntaxError",
    "Instruction",
    "InvalidDockerfileTemplateError",
    "parse_dockerfile",
    "render_template",
    "validate_template",
]

MAX_TEMPLATE_LENGTH = 16000
PLACEHOLDERS = ("parentImage", "environments", "components")
DEFAULT_TEMPLATE = (
    "FROM {{{ imagebuilder:parentImage }}}\n"
    "{{{ imagebuilder:environments }}}\n"
    "{{{ imagebuilder:components }}}\n"
)
INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip
_EXEC_FORM = frozenset({"CMD", "ENTRYPOINT", "RUN", "SHELL", "VOLUME", "ADD", "COPY"})
_FLAGGED = frozenset({"ADD", "COPY", "FROM", "RUN", "HEALTHCHECK"})
_PLACEHOLDER = re.compile(r"\{\{\{\s*(?P<name>[^{}]*?)\s*\}\}\}")
_DIRECTIVE = re.compile(r"#\s*(?P<key>[A-Za-z]+)\s*=\s*(?P<value>\S+)\s*$")


class InvalidDockerfileTemplateError(ClientError):
    """A dockerfileTemplateData Image Builder would refuse."""

    code = "InvalidParameterValueException"


class DockerfileSyntaxError(KilnError):
    """A rendered Dockerfile that cannot be parsed; ``line`` is 1-based."""

    def __init__(self, message: str, *, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction. ``exec_form`` is set when the arguments are a JSON array."""

    keyword: str
    arguments: str
    line: int
    flags: tuple[tuple[str, str], ...] = ()
    exec_form: tuple[str, ...] | None = None

    def flag(self, name: str) -> str | None:
        return next((value for key, value in self.flags if key == name), None)

    @property
    def image(self) -> str:
        """FROM: the image reference."""
        return self.arguments.split()[0]

    @property
    def stage_name(self) -> str | None:
        """FROM: the name after ``AS``, if any."""
        words = self.arguments.split()
        return words[2] if len(words) == 3 and words[1].upper() == "AS" else None

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """ENV / LABEL / ARG: ``key=value`` pairs (the legacy ``ENV key value`` form too)."""
        words = shlex.split(self.arguments, posix=True)
        if self.keyword == "ENV" and words and "=" not in words[0]:
            return ((words[0], self.arguments.split(None, 1)[1].strip() if len(words) > 1 else ""),)
        return tuple((key, value) for key, _, value in (word.partition("=") for word in words))

    def trigger(self) -> Instruction:
        """ONBUILD: the instruction it registers."""
        inner = parse_dockerfile(self.arguments)
        return Instruction(
            keyword=inner[0].keyword,
            arguments=inner[0].arguments,
            line=self.line,
            flags=inner[0].flags,
            exec_form=inner[0].exec_form,
        )


def render_template(
    template: str,
    *,
    parent_image: str,
    environments: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    components: Sequence[str] = (),
) -> str:
    """Substitute the placeholders. ``components`` are Dockerfile instruction lines."""
    validate_placeholders(template)
    pairs = list(environments.items() if isinstance(environments, Mapping) else environments)
    values = {
        "parentImage": parent_image,
        "environments": "\n".join(f"ENV {k}={json.dumps(v)}" for k, v in pairs),
        "components": "\n".join(components),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group("name").split(":", 1)[1]], template)


def validate_placeholders(template: str) -> frozenset[str]:
    """The placeholders used; InvalidDockerfileTemplateError naming an unknown one."""
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise InvalidDockerfileTemplateError(
            f"The Dockerfile template has {len(template)} characters; "
            f"the maximum is {MAX_TEMPLATE_LENGTH}."
        )
    used: set[str] = set()
    for match in _PLACEHOLDER.finditer(template):
        prefix, _, name = match.group("name").partition(":")
        if prefix != "imagebuilder" or name not in PLACEHOLDERS:
            known = ", ".join(f"{{{{{{ imagebuilder:{p} }}}}}}" for p in PLACEHOLDERS)
            raise InvalidDockerfileTemplateError(
                f"Unknown placeholder {match.group()!r} in the Dockerfile template; "
                f"supported placeholders are {known}."
            )
        used.add(name)
    return frozenset(used)


def validate_template(template: str) -> frozenset[str]:
    """Validate dockerfileTemplateData; returns the placeholders it uses."""
    used = validate_placeholders(template)
    rendered = render_template(
        template, parent_image="kiln.invalid/parent:latest", environments={}, components=()
    )
    try:
        instructions = parse_dockerfile(rendered)
    except DockerfileSyntaxError as exc:
        raise InvalidDockerfileTemplateError(f"Invalid Dockerfile template: {exc}") from exc
    first = next((i for i in instructions if i.keyword != "ARG"), None)
    if first is None or first.keyword != "FROM":
        raise InvalidDockerfileTemplateError(
            "Invalid Dockerfile template: it must start with FROM "
            "{{{ imagebuilder:parentImage }}} or FROM <image>."
        )
    return used


def parse_dockerfile(text: str) -> list[Instruction]:
    """Parse a Dockerfile into instructions."""
    lines = text.splitlines()
    escape = _escape_directive(lines)
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        start = index
        stripped = lines[index].strip()
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        logical = stripped
        while logical.endswith(escape) and index < len(lines):
            logical = logical[: -len(escape)]
            following = lines[index].strip()
            index += 1
            if not following or following.startswith("#"):
                logical += escape  # empty and comment lines inside a continuation are dropped
                continue
            logical += " " + following
        if logical.endswith(escape):
            logical = logical[: -len(escape)]
        instructions.append(_instruction(logical.strip(), line=start + 1))
    return instructions


def _escape_directive(lines: list[str]) -> str:
    for raw in lines:
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        if match.group("key").lower() == "escape":
            if match.group("value") not in ("\\", "`"):
                raise DockerfileSyntaxError("escape must be \\ or `", line=lines.index(raw) + 1)
            return match.group("value")
    return "\\"


def _instruction(logical: str, *, line: int) -> Instruction:
    keyword, _, rest = logical.partition(" ")
    if "\t" in keyword:
        keyword, _, tail = keyword.partition("\t")
        rest = tail + " " + rest
    keyword = keyword.upper()
    rest = rest.strip()
    if keyword not in INSTRUCTIONS:
        raise DockerfileSyntaxError(f"unknown instruction {keyword!r}", line=line)
    flags: list[tuple[str, str]] = []
    if keyword in _FLAGGED:
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            name, _, value = token[2:].partition("=")
            flags.append((name, value))
            rest = rest.strip()
    if not rest and keyword not in ("HEALTHCHECK",):
        raise DockerfileSyntaxError(f"{keyword} requires arguments", line=line)
    exec_form: tuple[str, ...] | None = None
    if keyword in _EXEC_FORM or keyword in ("HEALTHCHECK",):
        exec_form = _exec_form(rest)
    if keyword == "FROM":
        words = rest.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
            raise DockerfileSyntaxError("FROM takes an image and an optional AS name", line=line)
    return Instruction(
        keyword=keyword, arguments=rest, line=line, flags=tuple(flags), exec_form=exec_form
    )


def _exec_form(arguments: str) -> tuple[str, ...] | None:
    if not arguments.startswith("["):
        return None
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return None  # Docker treats a malformed array as shell form
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None
