"""Container recipe Dockerfile templates and the Dockerfile parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiln.core.dockerfile import (
    DEFAULT_TEMPLATE,
    DockerfileSyntaxError,
    InvalidDockerfileTemplateError,
    parse_dockerfile,
    render_template,
    validate_template,
)


def test_default_template_renders() -> None:
    text = render_template(
        DEFAULT_TEMPLATE,
        parent_image="debian:12",
        environments={"PATH": "/usr/local/bin:/usr/bin", "X": 'a "q"'},
        components=["RUN echo one", "RUN echo two"],
    )
    assert text == (
        "FROM debian:12\n"
        'ENV PATH="/usr/local/bin:/usr/bin"\n'
        'ENV X="a \\"q\\""\n'
        "RUN echo one\nRUN echo two\n"
    )
    keywords = [i.keyword for i in parse_dockerfile(text)]
    assert keywords == ["FROM", "ENV", "ENV", "RUN", "RUN"]


def test_placeholder_spacing_optional() -> None:
    text = render_template("FROM {{{imagebuilder:parentImage}}}\n", parent_image="alpine")
    assert text == "FROM alpine\n"


def test_validate_returns_used_placeholders() -> None:
    assert validate_template(DEFAULT_TEMPLATE) == {"parentImage", "environments", "components"}
    assert validate_template("ARG V=1\nFROM debian:12\nRUN true\n") == frozenset()


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("FROM {{{ imagebuilder:parent }}}", "Unknown placeholder '{{{ imagebuilder:parent }}}'"),
        ("FROM x\n{{{ imagebuilder:ssmAgent }}}", "imagebuilder:ssmAgent"),
        ("FROM {{{ parentImage }}}", "Unknown placeholder '{{{ parentImage }}}'"),
        ("RUN true\nFROM {{{ imagebuilder:parentImage }}}", "must start with FROM"),
        ("{{{ imagebuilder:components }}}", "must start with FROM"),
        ("# only a comment\n", "must start with FROM"),
        ("FROM a b c d", "FROM takes an image"),
        ("FROM x\nFOO bar", "line 2: unknown instruction 'FOO'"),
        ("FROM x\nRUN", "RUN requires arguments"),
        ("FROM x\n" + "#" * 16000, "maximum is 16000"),
    ],
)
def test_invalid_templates(template: str, fragment: str) -> None:
    with pytest.raises(InvalidDockerfileTemplateError) as info:
        validate_template(template)
    assert fragment in info.value.message
    assert info.value.code == "InvalidParameterValueException"


def test_render_rejects_unknown_placeholder() -> None:
    with pytest.raises(InvalidDockerfileTemplateError, match="imagebuilder:nope"):
        render_template("FROM {{{ imagebuilder:nope }}}", parent_image="x")


DOCKERFILE = r"""# syntax=docker/dockerfile:1
# escape=\
ARG BASE=debian:12
FROM --platform=linux/amd64 ${BASE} AS build
LABEL org.opencontainers.image.title="kiln test" version=1
ENV A=1 B="two words"
ENV LEGACY some value here
RUN apt-get update && \
    # a comment inside a continuation
    apt-get install -y \

      curl
RUN ["/bin/sh", "-c", "echo hi"]
COPY --from=build --chown=1000:1000 /src /dst
ADD https://example.invalid/a.tar.gz /opt/
USER 1000:1000
WORKDIR /app
EXPOSE 8080/tcp 9090
VOLUME ["/data", "/logs"]
STOPSIGNAL SIGTERM
SHELL ["/bin/bash", "-c"]
HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1
ONBUILD RUN echo triggered
entrypoint ["/app/run"]
CMD --help
"""


def test_parse_full_dockerfile() -> None:
    ins = parse_dockerfile(DOCKERFILE)
    by = {i.keyword: i for i in ins}
    assert [i.keyword for i in ins][:3] == ["ARG", "FROM", "LABEL"]
    frm = by["FROM"]
    assert frm.flag("platform") == "linux/amd64"
    assert frm.image == "${BASE}"
    assert frm.stage_name == "build"
    assert by["LABEL"].pairs() == (
        ("org.opencontainers.image.title", "kiln test"),
        ("version", "1"),
    )
    envs = [i for i in ins if i.keyword == "ENV"]
    assert envs[0].pairs() == (("A", "1"), ("B", "two words"))
    assert envs[1].pairs() == (("LEGACY", "some value here"),)
    runs = [i for i in ins if i.keyword == "RUN"]
    assert runs[0].arguments == "apt-get update &&  apt-get install -y  curl"
    assert runs[0].exec_form is None
    assert runs[0].line == 8
    assert runs[1].exec_form == ("/bin/sh", "-c", "echo hi")
    assert by["COPY"].flags == (("from", "build"), ("chown", "1000:1000"))
    assert by["COPY"].arguments == "/src /dst"
    assert by["VOLUME"].exec_form == ("/data", "/logs")
    assert by["SHELL"].exec_form == ("/bin/bash", "-c")
    assert by["HEALTHCHECK"].flag("interval") == "30s"
    assert by["HEALTHCHECK"].arguments.startswith("CMD curl")
    trigger = by["ONBUILD"].trigger()
    assert (trigger.keyword, trigger.arguments) == ("RUN", "echo triggered")
    assert by["ENTRYPOINT"].exec_form == ("/app/run",)
    assert by["CMD"].arguments == "--help"  # CMD takes no flags
    assert by["EXPOSE"].arguments == "8080/tcp 9090"


def test_backtick_escape_directive() -> None:
    ins = parse_dockerfile("# escape=`\nFROM mcr.invalid/windows\nRUN dir `\n  c:\\\n")
    assert ins[1].arguments == "dir  c:\\"


def test_malformed_exec_form_is_shell_form() -> None:
    (ins,) = parse_dockerfile('CMD ["unterminated')
    assert ins.exec_form is None
    assert ins.arguments == '["unterminated'


def test_unknown_instruction_line_number() -> None:
    with pytest.raises(DockerfileSyntaxError) as info:
        parse_dockerfile("FROM x\n\n# c\nBOGUS y\n")
    assert info.value.line == 4


@given(st.lists(st.text(alphabet="abc xyz_=/", min_size=1, max_size=20), min_size=1, max_size=8))
def test_run_arguments_survive_continuations(words: list[str]) -> None:
    words = [w.strip() or "w" for w in words]
    text = "FROM x\nRUN " + " \\\n    ".join(words) + "\n"
    run = parse_dockerfile(text)[1]
    assert run.arguments.split() == " ".join(words).split()
