"""A build's logs on the host, readable while the build runs.

    <data_dir>/logs/<image name>/<version>/<build>/<workflow type>-<step name>/
        TOE_<time>_UTC-0_<id>/console.log, application.log   (the component runner's, AWSTOE's)
        dockerfile.log, bootstrap.log, inventory.log, ...     (the step actions' own)

`BuildLogs.poll()` returns what was appended to each `*.log` file since the previous poll, in
the order the files were created, so `kiln images logs --follow` can print a build as it goes.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

from kiln.core.arn import ArnError, parse_imagebuilder_arn
from kiln.core.errors import KilnError

LOGS_DIR = "logs"
READ_LIMIT = 1 << 20


class BuildLogsError(KilnError):
    """The ARN names no image build version whose logs Kiln could keep."""


def build_log_root(
    data_dir: Path, *, account: str, region: str, name: str, version: str, build: int
) -> Path:
    """Where the logs of one image build version live (per account and region, as images)."""
    return data_dir / LOGS_DIR / account / region / name / version / str(build)


def step_log_dir(root: Path, workflow_type: str, step_name: str) -> Path:
    """The folder of one workflow step's logs under a build's log root."""
    return root / f"{workflow_type.lower()}-{step_name}"


def log_root_of(data_dir: Path, image_arn: str) -> Path:
    try:
        arn = parse_imagebuilder_arn(image_arn, resource_type="image")
    except ArnError as exc:
        raise BuildLogsError(f"{image_arn} is not an image ARN: {exc}") from exc
    if arn.version is None or not arn.is_exact_version or arn.build is None:
        raise BuildLogsError(
            f"{image_arn} is not an image build version ARN (…:image/NAME/VERSION/BUILD)"
        )
    return build_log_root(
        data_dir,
        account=arn.account,
        region=arn.region,
        name=arn.name,
        version=str(arn.version),
        build=arn.build,
    )


@dataclass(frozen=True)
class LogChunk:
    path: Path
    """Relative to the build's log root."""
    text: str


@dataclass
class BuildLogs:
    """Follows every `*.log` file under a build's log root, remembering how far it read.

    Files are reported in the order they were first seen (the oldest first among files found
    in one poll), which is the order the build's steps wrote them.
    """

    root: Path
    offsets: dict[Path, int] = field(default_factory=dict)
    _decoders: dict[Path, codecs.IncrementalDecoder] = field(default_factory=dict)

    def files(self) -> list[Path]:
        if self.root.is_dir():
            new = [
                path
                for path in self.root.rglob("*.log")
                if path not in self.offsets and path.is_file()
            ]
            for path in sorted(new, key=lambda path: (_modified(path), str(path))):
                self.offsets[path] = 0
                self._decoders[path] = codecs.getincrementaldecoder("utf-8")("replace")
        return list(self.offsets)

    def poll(self) -> list[LogChunk]:
        """What was appended since the last poll (a split UTF-8 character waits for its end)."""
        chunks = []
        for path in self.files():
            offset = self.offsets[path]
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read(READ_LIMIT)
            except FileNotFoundError:
                continue
            self.offsets[path] = offset + len(data)
            text = self._decoders[path].decode(data)
            if text:
                chunks.append(LogChunk(path.relative_to(self.root), text))
        return chunks


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
