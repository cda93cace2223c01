"""DebianSecurityArchive against a small archive on loopback: checksums, caching, changelogs
read from real .deb files, and the failures a scan reports."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.scan import AdvisoryUnavailableError, DebianSecurityArchive
from kiln.scan import deb as debfile
from tests.unit.scan.mirror import CODENAME, FakeMirror, build_deb, require_dpkg_deb, serve

CHANGELOG = """\
curl (7.88.1-10+deb12u9) bookworm-security; urgency=high

  * Fix CVE-2025-0001 (heap overflow in the cookie parser).

 -- Kiln Tests <kiln@example.org>  Mon, 03 Feb 2025 10:00:00 +0000
"""


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[FakeMirror]:
    require_dpkg_deb()
    work = tmp_path / "debs"
    work.mkdir()
    made = FakeMirror(tmp_path / "mirror")
    version = "7.88.1-10+deb12u9"
    linked = build_deb(work, "libcurl4", version, changelog=None, source="curl", doc_link="curl")
    own = build_deb(work, "curl", version, changelog=CHANGELOG)
    made.add(linked, name="libcurl4", version=version, source="curl")
    made.add(own, name="curl", version=version)
    made.publish()
    with serve(made) as served:
        yield served


def _archive(mirror: FakeMirror, tmp_path: Path, **kwargs) -> DebianSecurityArchive:
    return DebianSecurityArchive(mirror.url, tmp_path / "cache", keyring=None, **kwargs)


def test_updates_come_from_the_index_and_are_cached(mirror: FakeMirror, tmp_path: Path) -> None:
    archive = _archive(mirror, tmp_path)
    updates = archive.updates(CODENAME, "amd64")
    assert updates["curl"].version == "7.88.1-10+deb12u9"
    assert {b.name for b in updates["curl"].binaries} == {"curl", "libcurl4"}
    fetched = list(mirror.requests)
    assert any(path.endswith("Packages.xz") for path in fetched)
    again = _archive(mirror, tmp_path)  # a new process: InRelease fresh, index cached on disk
    assert again.updates(CODENAME, "amd64") == updates
    assert mirror.requests == fetched


def test_a_stale_inrelease_is_fetched_again_but_an_unchanged_index_is_not(
    mirror: FakeMirror, tmp_path: Path
) -> None:
    _archive(mirror, tmp_path).updates(CODENAME, "amd64")
    inrelease = next((tmp_path / "cache").rglob("InRelease"))
    old = time.time() - 7200
    os.utime(inrelease, (old, old))
    mirror.requests.clear()
    _archive(mirror, tmp_path).updates(CODENAME, "amd64")
    assert [p.rsplit("/", 1)[-1] for p in mirror.requests] == ["InRelease"]


def test_the_changelog_skips_a_package_whose_doc_dir_is_a_link(
    mirror: FakeMirror, tmp_path: Path
) -> None:
    archive = _archive(mirror, tmp_path)
    update = archive.updates(CODENAME, "amd64")["curl"]
    text = archive.changelog(CODENAME, update, ["libcurl4"])
    assert text is not None and "CVE-2025-0001" in text
    debs = [p for p in mirror.requests if p.endswith(".deb")]
    assert len(debs) == 2 and "libcurl4" in debs[0]  # the installed one first, then curl's
    cached = list((tmp_path / "cache").rglob("changelogs/curl_7.88.1-10+deb12u9.txt"))
    assert len(cached) == 1
    mirror.requests.clear()
    assert archive.changelog(CODENAME, update, ["libcurl4"]) == text
    assert mirror.requests == []  # kept per source version; no .deb is kept


def test_a_corrupted_index_is_refused(mirror: FakeMirror, tmp_path: Path) -> None:
    index = mirror.root / "dists" / f"{CODENAME}-security" / "main" / "binary-amd64"
    (index / "Packages.xz").write_bytes(b"\xfd7zXZ\x00 not the published index")
    with pytest.raises(AdvisoryUnavailableError, match="checksum"):
        _archive(mirror, tmp_path).updates(CODENAME, "amd64")


def test_a_tampered_deb_is_refused(mirror: FakeMirror, tmp_path: Path) -> None:
    archive = _archive(mirror, tmp_path)
    update = archive.updates(CODENAME, "amd64")["curl"]
    for path in mirror.root.rglob("curl_*.deb"):
        path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(AdvisoryUnavailableError, match="checksum"):
        archive.changelog(CODENAME, update, ["curl"])


def test_an_expired_inrelease_is_refused(tmp_path: Path) -> None:
    require_dpkg_deb()
    made = FakeMirror(tmp_path / "mirror")
    made.publish(valid_for=-dt.timedelta(days=1))
    with serve(made), pytest.raises(AdvisoryUnavailableError, match="expired"):
        _archive(made, tmp_path).updates(CODENAME, "amd64")


def test_an_unreachable_mirror_and_odd_suites_are_errors(tmp_path: Path) -> None:
    archive = DebianSecurityArchive("http://127.0.0.1:9", tmp_path / "cache", keyring=None)
    with pytest.raises(AdvisoryUnavailableError, match="cannot be reached"):
        archive.updates(CODENAME, "amd64")
    with pytest.raises(AdvisoryUnavailableError):
        archive.updates("../../etc", "amd64")
    assert not (tmp_path / "etc").exists()


def test_a_missing_keyring_is_an_error_not_a_pass(mirror: FakeMirror, tmp_path: Path) -> None:
    archive = DebianSecurityArchive(
        mirror.url, tmp_path / "cache", keyring=tmp_path / "missing.gpg"
    )
    with pytest.raises(AdvisoryUnavailableError, match="keyring"):
        archive.updates(CODENAME, "amd64")


def test_an_unsigned_inrelease_fails_gpgv(mirror: FakeMirror, tmp_path: Path) -> None:
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    if not keyring.is_file():
        reason = "Debian's archive keyring is not installed (debian-archive-keyring)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    archive = DebianSecurityArchive(mirror.url, tmp_path / "cache", keyring=keyring)
    with pytest.raises(AdvisoryUnavailableError, match="signature"):
        archive.updates(CODENAME, "amd64")


def test_native_packages_ship_changelog_gz(tmp_path: Path) -> None:
    require_dpkg_deb()
    text = "apt (2.6.2) bookworm-security; urgency=medium\n\n  * CVE-2026-1\n"
    deb = build_deb(tmp_path, "apt", "2.6.2", changelog=text, native=True)
    assert debfile.changelog(deb, "apt") == text
    assert debfile.changelog(deb, "other") is None
    with pytest.raises(debfile.DebFormatError):
        debfile.ar_members(b"not an archive")
