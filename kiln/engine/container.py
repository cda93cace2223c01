"""Container builds: the rendered Dockerfile, instruction by instruction, in a build instance.

The recipe's template is rendered with `{{{ imagebuilder:components }}}` as the sentinel line
``RUN kiln:components``. In order: RUN runs in the instance (``/bin/sh -c`` or exec form) with
the ENV and WORKDIR seen so far; the sentinel runs the components' build and validate phases
with the component runner; ENV, LABEL, USER, WORKDIR, ENTRYPOINT, CMD, EXPOSE, VOLUME,
STOPSIGNAL and ONBUILD become commit changes. COPY and ADD need a build context, which recipes
do not have, so they fail the build with the line named.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from kiln.core.dockerfile import DEFAULT_TEMPLATE, Instruction, parse_dockerfile, render_template
from kiln.core.errors import BuildError
from kiln.instances.base import Instance
from kiln.toe.communicator import Communicator, ExecOutcome, OutputSink

logger = logging.getLogger(__name__)

COMPONENTS_SENTINEL = "RUN kiln:components"
_CHANGES = frozenset(
    {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME",
     "WORKDIR"}
)  # fmt: skip
RUN_TIMEOUT = 3600.0


class DockerfileBuildError(BuildError):
    """An instruction of the recipe's Dockerfile failed or cannot be honoured."""


def rendered_dockerfile(template: str | None, parent_image: str) -> list[Instruction]:
    text = render_template(
        template or DEFAULT_TEMPLATE,
        parent_image=parent_image,
        environments={},
        components=[COMPONENTS_SENTINEL],
    )
    return parse_dockerfile(text)


def from_image(instructions: Sequence[Instruction]) -> str:
    """The image the first FROM names (the parent the build instance starts from)."""
    for instruction in instructions:
        if instruction.keyword == "FROM":
            return instruction.image
    raise DockerfileBuildError("the Dockerfile has no FROM instruction")


@dataclass
class EnvCommunicator:
    """A Communicator that adds the Dockerfile's ENV and WORKDIR to every exec."""

    inner: Communicator
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def exec(self, argv: Sequence[str], *, on_output: OutputSink, timeout: float | None,
             env: Mapping[str, str] | None = None, cwd: str | None = None,
             stdin: bytes | None = None) -> ExecOutcome:  # fmt: skip
        merged = {**self.env, **(env or {})}
        return self.inner.exec(argv, on_output=on_output, timeout=timeout, env=merged or None,
                               cwd=cwd or self.cwd, stdin=stdin)  # fmt: skip

    def upload(self, local: Path, remote: str) -> None:
        self.inner.upload(local, remote)

    def download(self, remote: str, local: Path) -> None:
        self.inner.download(remote, local)

    def reboot(self) -> None:
        self.inner.reboot()


def apply_dockerfile(
    instructions: Sequence[Instruction],
    instance: Instance,
    *,
    run_components: Callable[[Communicator], None],
    log: Path,
) -> list[str]:
    """Run the instructions in the instance; returns the commit changes."""
    comm = EnvCommunicator(instance.communicator)
    changes: list[str] = []
    froms = 0
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        for ins in instructions:
            where = f"Dockerfile line {ins.line} ({ins.keyword})"
            if ins.keyword == "FROM":
                froms += 1
                if froms > 1:
                    raise DockerfileBuildError(f"{where}: multi-stage builds are not supported")
            elif ins.keyword == "ARG":
                continue
            elif ins.keyword == "RUN" and f"RUN {ins.arguments}" == COMPONENTS_SENTINEL:
                run_components(comm)
            elif ins.keyword == "RUN":
                argv = list(ins.exec_form or ("/bin/sh", "-c", ins.arguments))
                sink.write(f"\n### {where}: {ins.arguments}\n".encode())
                outcome = comm.exec(argv, on_output=lambda c: _write(sink, c), timeout=RUN_TIMEOUT)
                if outcome.timed_out or outcome.exit_code != 0:
                    raise DockerfileBuildError(
                        f"{where} `{ins.arguments[:200]}` exited with {outcome.exit_code}"
                        f"{' (timed out)' if outcome.timed_out else ''}; output in {log}"
                    )
            elif ins.keyword in _CHANGES:
                _track(comm, ins)
                changes.append(f"{ins.keyword} {ins.arguments}")
            elif ins.keyword == "MAINTAINER":
                changes.append(f'LABEL maintainer="{ins.arguments}"')
            else:
                raise DockerfileBuildError(
                    f"{where} is not supported in Image Builder container recipes run by Kiln "
                    "(a recipe has no build context for COPY/ADD; SHELL and HEALTHCHECK are "
                    "not applied)"
                )
    return changes


def _track(comm: EnvCommunicator, ins: Instruction) -> None:
    if ins.keyword == "ENV":
        comm.env.update(dict(ins.pairs()))
    elif ins.keyword == "WORKDIR":
        path = ins.arguments.strip()
        if not path.startswith("/"):
            path = f"{comm.cwd or '/'}/{path}".replace("//", "/")
        comm.inner.exec(["mkdir", "-p", path], on_output=lambda _c: None, timeout=60)
        comm.cwd = path


def _write(sink: BinaryIO, chunk: bytes) -> None:
    sink.write(chunk)
