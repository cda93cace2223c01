"""FakeAdvisories: the AdvisorySource port in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kiln.scan import AdvisoryUnavailableError
from kiln.scan.index import BinaryPackage, SourceUpdate


def update(source: str, version: str, *binaries: str) -> SourceUpdate:
    return SourceUpdate(
        source,
        version,
        tuple(
            BinaryPackage(name, version, "amd64", f"pool/updates/main/{name}.deb", "00", 1)
            for name in binaries or (source,)
        ),
    )


@dataclass
class FakeAdvisories:
    known: dict[str, SourceUpdate] = field(default_factory=dict)
    changelogs: dict[str, str] = field(default_factory=dict)
    unreachable: str | None = None
    asked: list[tuple[str, str]] = field(default_factory=list)
    location: str = "fake://debian-security"

    def updates(self, codename: str, architecture: str) -> Mapping[str, SourceUpdate]:
        self.asked.append((codename, architecture))
        if self.unreachable:
            raise AdvisoryUnavailableError(self.unreachable)
        return self.known

    def changelog(
        self, codename: str, update: SourceUpdate, installed: Sequence[str]
    ) -> str | None:
        return self.changelogs.get(update.source)
