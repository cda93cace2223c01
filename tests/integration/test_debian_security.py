"""The scanner against the real Debian security archive on the mirror this host's apt uses:
a signed, current InRelease, the index, and vulnerabilities of a package that bookworm's main
suite still ships at a version -security has superseded."""

from __future__ import annotations

import lzma
import os
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiln.artifacts.apt_sources import DebianMirror
from kiln.core.errors import ConfigurationError
from kiln.scan import (
    DebianSecurityArchive,
    InstalledPackage,
    changelog,
    compare,
    find_vulnerabilities,
)
from kiln.scan.archive import http_get
from kiln.scan.index import SourceUpdate, stanzas

CODENAME = "bookworm"
ARCH = "amd64"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def host_mirror() -> DebianMirror:
    """The host's Debian mirror with a security archive, or the test is skipped (failed on CI)."""
    try:
        mirror = DebianMirror.from_host()
    except ConfigurationError as exc:
        _skip_or_fail(f"apt names no Debian mirror: {exc}")
        raise
    if not mirror.security:
        _skip_or_fail("apt's sources name no Debian security archive")
    url = f"{mirror.security}/dists/{CODENAME}-security/InRelease"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            response.read(64)
    except OSError as exc:
        _skip_or_fail(f"the Debian security archive is unreachable ({url}): {exc}")
    return mirror


@dataclass(frozen=True)
class Superseded:
    """A binary package of bookworm (main) whose source -security carries at a newer version."""

    name: str
    version: str
    source: str
    source_version: str
    fixed: str


def superseded_packages(
    mirror: DebianMirror, updates: Mapping[str, SourceUpdate]
) -> list[Superseded]:
    """Candidates from the mirror's main index, easiest to install first: no dependencies,
    then small. `apt-get install name=version` installs one without touching anything else."""
    index = http_get(f"{mirror.archive}/dists/{CODENAME}/main/binary-{ARCH}/Packages.xz", 120)
    found: list[tuple[int, Superseded]] = []
    for fields in stanzas(lzma.decompress(index).decode("utf-8", "replace")):
        source = re.match(r"^(\S+)(?:\s+\((\S+)\))?$", fields.get("Source", fields["Package"]))
        assert source is not None
        name, version = fields["Package"], fields["Version"]
        source_name, source_version = source.group(1), source.group(2) or version
        update = updates.get(source_name)
        depends = ", ".join(v for v in (fields.get("Pre-Depends"), fields.get("Depends")) if v)
        if update is None or depends or update.binary(name) is None:
            continue
        if compare(source_version, update.version) >= 0:
            continue
        size = int(fields.get("Installed-Size", "0") or 0)
        found.append((size, Superseded(name, version, source_name, source_version, update.version)))
    return [candidate for _, candidate in sorted(found, key=lambda pair: pair[0])]


def first_with_cves(
    archive: DebianSecurityArchive,
    updates: Mapping[str, SourceUpdate],
    candidates: list[Superseded],
    *,
    tried: int = 12,
) -> Superseded:
    """The first of the smallest `tried` candidates whose security update names a CVE in its
    changelog (some updates fix none, e.g. wireless-regdb's data refreshes)."""
    for candidate in candidates[:tried]:
        text = archive.changelog(CODENAME, updates[candidate.source], [candidate.name])
        brought = changelog.newer_than(changelog.parse(text or ""), candidate.source_version)
        if any(entry.cves() for entry in brought):
            return candidate
    pytest.fail(
        f"none of the {tried} smallest superseded packages names a CVE in the changelog of its "
        f"security update: {[c.name for c in candidates[:tried]]}"
    )


@pytest.fixture(scope="module")
def mirror() -> DebianMirror:
    return host_mirror()


def test_the_security_index_is_signed_current_and_cached(
    mirror: DebianMirror, tmp_path: Path
) -> None:
    assert mirror.security is not None
    fetched: list[str] = []

    def counting(url: str, timeout: float) -> bytes:
        fetched.append(url)
        return http_get(url, timeout)

    archive = DebianSecurityArchive(mirror.security, tmp_path, fetch=counting)
    updates = archive.updates(CODENAME, ARCH)
    assert len(updates) > 50
    assert "openssl" in updates and updates["openssl"].binary("libssl3") is not None
    assert [u.rsplit("/", 1)[-1] for u in fetched] == ["InRelease", "Packages.xz"]
    again = DebianSecurityArchive(mirror.security, tmp_path, fetch=counting)
    assert again.updates(CODENAME, ARCH) == updates
    assert len(fetched) == 2  # InRelease still fresh, index verified from the cache


def test_a_superseded_main_package_is_found_with_its_cves(
    mirror: DebianMirror, tmp_path: Path
) -> None:
    assert mirror.security is not None
    archive = DebianSecurityArchive(mirror.security, tmp_path)
    updates = archive.updates(CODENAME, ARCH)
    candidates = superseded_packages(mirror, updates)
    assert candidates, "bookworm main ships no package -security has superseded"
    chosen = first_with_cves(archive, updates, candidates)
    installed = InstalledPackage(chosen.name, chosen.version, ARCH, chosen.source,
                                 chosen.source_version)  # fmt: skip
    found = find_vulnerabilities([installed], archive, codename=CODENAME, architecture=ARCH)
    assert found, chosen
    for vulnerability in found:
        assert vulnerability.source == chosen.source
        assert vulnerability.fixed_version == chosen.fixed
        assert [p.installed.name for p in vulnerability.packages] == [chosen.name]
        assert re.match(r"^(CVE-\d{4}-\d{4,}|D[SL]A-\d+-\d+|DEBIAN-.+)$", vulnerability.id)
    assert any(v.id.startswith("CVE-") for v in found), [v.id for v in found]
    assert list(tmp_path.rglob("changelogs/*.txt")), "the changelog is cached per version"
