"""The installed packages of an instance, as dpkg knows them (binary and source names and
versions), read with one dpkg-query through the Communicator."""

from __future__ import annotations

from dataclasses import dataclass

DPKG_QUERY = [
    "dpkg-query",
    "--show",
    "--showformat",
    "${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}"
    "\\t${source:Package}\\t${source:Version}\\n",
]
OS_RELEASE = ["cat", "/etc/os-release"]
ARCHITECTURE = ["dpkg", "--print-architecture"]


@dataclass(frozen=True)
class InstalledPackage:
    name: str
    version: str
    architecture: str
    source: str
    source_version: str


def parse_inventory(text: str) -> list[InstalledPackage]:
    """dpkg-query's lines → the packages that are installed (status `?i`), by name."""
    found: dict[tuple[str, str], InstalledPackage] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 6:
            continue
        status, name, version, arch, source, source_version = (f.strip() for f in fields)
        if len(status) < 2 or status[1] != "i" or not name or not version:
            continue
        found[(name, arch)] = InstalledPackage(
            name=name,
            version=version,
            architecture=arch,
            source=source or name,
            source_version=source_version or version,
        )
    return sorted(found.values(), key=lambda p: (p.name, p.architecture))


def os_release(text: str) -> dict[str, str]:
    """/etc/os-release as a mapping (quotes removed)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("\"'")
    return values
