"""A suite's package index (dists/<suite>/main/binary-<arch>/Packages), read into what the
scanner asks of it: for each source package, its newest version in the suite and the binary
packages built from it (with their pool file and checksum)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kiln.scan.debversion import DebianVersion, InvalidVersionError

_NAME = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)\s]+)\))?$")
_POOL = re.compile(r"^pool/[A-Za-z0-9._+~%/-]+\.deb$")


@dataclass(frozen=True)
class BinaryPackage:
    """One .deb in the suite."""

    name: str
    version: str
    architecture: str
    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class SourceUpdate:
    """A source package at its newest version in the suite, and its binaries at that version."""

    source: str
    version: str
    binaries: tuple[BinaryPackage, ...]

    def binary(self, name: str) -> BinaryPackage | None:
        return next((b for b in self.binaries if b.name == name), None)


def stanzas(text: str) -> Iterator[dict[str, str]]:
    """The deb822 paragraphs of an index (continuation lines joined with newlines)."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
            continue
        if line[0] in " \t":
            if key:
                fields[key] += "\n" + line.strip()
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    if fields:
        yield fields


def parse_packages(text: str) -> Mapping[str, SourceUpdate]:
    """Source name → its newest version in the index (binNMUs belong to their source version)."""
    found: dict[str, dict[DebianVersion, list[BinaryPackage]]] = {}
    for fields in stanzas(text):
        binary = _binary(fields)
        if binary is None:
            continue
        source, source_version = _source_of(fields, binary)
        try:
            parsed = DebianVersion.parse(source_version)
        except InvalidVersionError:
            continue
        found.setdefault(source, {}).setdefault(parsed, []).append(binary)
    updates = {}
    for source, versions in found.items():
        newest = max(versions)
        binaries = tuple(sorted(versions[newest], key=lambda b: (b.name, b.architecture)))
        updates[source] = SourceUpdate(source, str(newest), binaries)
    return updates


def _binary(fields: Mapping[str, str]) -> BinaryPackage | None:
    name = fields.get("Package", "")
    version = fields.get("Version", "")
    filename = fields.get("Filename", "")
    if not _NAME.match(name) or not version or not _POOL.match(filename) or ".." in filename:
        return None
    try:
        size = int(fields.get("Size", "0"))
    except ValueError:
        size = 0
    return BinaryPackage(
        name=name,
        version=version,
        architecture=fields.get("Architecture", ""),
        filename=filename,
        sha256=fields.get("SHA256", "").lower(),
        size=size,
    )


def _source_of(fields: Mapping[str, str], binary: BinaryPackage) -> tuple[str, str]:
    """`Source: name (version)` when the source version differs, `Source: name` when only the
    name does, no Source field when both are the binary's."""
    match = _SOURCE.match(fields.get("Source", "").strip())
    if not match:
        return binary.name, binary.version
    return match.group("name"), match.group("version") or binary.version


def release_checksums(text: str) -> Mapping[str, tuple[str, int]]:
    """The SHA256 section of a Release/InRelease file: path → (sha256, size)."""
    checksums: dict[str, tuple[str, int]] = {}
    inside = False
    for line in text.splitlines():
        if not line.startswith(" "):
            inside = line.rstrip() == "SHA256:"
            continue
        if inside:
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                checksums[parts[2]] = (parts[0].lower(), int(parts[1]))
    return checksums


def release_field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return value.strip()
    return None
