"""The Debian mirror this host's apt uses: the only network Kiln may count on.

Reads one-line `/etc/apt/sources.list` (+ `sources.list.d/*.list`) and deb822
`sources.list.d/*.sources`, keeps the `deb` entries whose suite is a Debian codename (or its
`-updates` / `-security` pocket), and answers the apt source lines for any release on that mirror.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kiln.core.errors import ConfigurationError

APT_ROOT = Path("/etc/apt")

DEBIAN_CODENAMES = frozenset(
    {"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid", "stable", "testing"}
)


@dataclass(frozen=True)
class AptEntry:
    uri: str
    suite: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class DebianMirror:
    """Where Debian's archive (and, if configured, its security archive) live for this host."""

    archive: str
    security: str | None = None
    updates: bool = False
    components: tuple[str, ...] = ("main",)

    @classmethod
    def from_host(cls, apt_root: Path = APT_ROOT) -> DebianMirror:
        entries = list(read_apt_entries(apt_root))
        return cls.from_entries(entries, where=str(apt_root))

    @classmethod
    def from_entries(
        cls, entries: Iterable[AptEntry], *, where: str = "apt sources"
    ) -> DebianMirror:
        archive: AptEntry | None = None
        security: str | None = None
        updates = False
        for entry in entries:
            codename, _, pocket = entry.suite.partition("-")
            if codename not in DEBIAN_CODENAMES:
                continue
            if pocket == "":
                archive = archive or entry
            elif pocket == "security":
                security = security or entry.uri
            elif pocket == "updates":
                updates = True
        if archive is None:
            raise ConfigurationError(
                f"no Debian archive found in {where}",
                hint="add a 'deb <mirror> bookworm main' entry to apt's sources",
            )
        return cls(
            archive=archive.uri,
            security=security,
            updates=updates,
            components=archive.components or ("main",),
        )

    def source_lines(self, codename: str) -> list[str]:
        """apt one-line sources for `codename` on this mirror (mmdebstrap mirror arguments)."""
        comps = " ".join(self.components)
        lines = [f"deb {self.archive} {codename} {comps}"]
        if self.updates:
            lines.append(f"deb {self.archive} {codename}-updates {comps}")
        if self.security:
            lines.append(f"deb {self.security} {codename}-security {comps}")
        return lines


def read_apt_entries(apt_root: Path = APT_ROOT) -> Iterator[AptEntry]:
    """Every enabled `deb` entry of apt's sources, in apt's reading order."""
    one_line = [apt_root / "sources.list"]
    parts = apt_root / "sources.list.d"
    if parts.is_dir():
        one_line += sorted(parts.glob("*.list"))
    for path in one_line:
        if path.is_file():
            yield from parse_one_line(path.read_text())
    if parts.is_dir():
        for path in sorted(parts.glob("*.sources")):
            yield from parse_deb822(path.read_text())


def parse_one_line(text: str) -> Iterator[AptEntry]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", " ", line)  # drop [arch=... signed-by=...] options
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "deb":
            yield AptEntry(fields[1].rstrip("/"), fields[2], tuple(fields[3:]))


def parse_deb822(text: str) -> Iterator[AptEntry]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:
                fields[key] += " " + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield AptEntry(uri.rstrip("/"), suite, components)
