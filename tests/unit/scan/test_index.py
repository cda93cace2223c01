"""Packages indices and Release checksums."""

from __future__ import annotations

from kiln.scan.index import parse_packages, release_checksums, release_field

PACKAGES = """\
Package: libssl3
Source: openssl
Version: 3.0.19-1~deb12u2
Architecture: amd64
Filename: pool/updates/main/o/openssl/libssl3_3.0.19-1~deb12u2_amd64.deb
Size: 2039888
SHA256: AA11
Description: Secure Sockets Layer toolkit
 multi-line description

Package: openssl
Version: 3.0.19-1~deb12u2
Architecture: amd64
Filename: pool/updates/main/o/openssl/openssl_3.0.19-1~deb12u2_amd64.deb
Size: 100
SHA256: bb22

Package: libssl3
Source: openssl
Version: 3.0.18-1~deb12u2
Architecture: amd64
Filename: pool/updates/main/o/openssl/libssl3_3.0.18-1~deb12u2_amd64.deb
Size: 200
SHA256: cc33

Package: libfoo1
Source: foo (1.2-3)
Version: 1.2-3+b1
Architecture: amd64
Filename: pool/updates/main/f/foo/libfoo1_1.2-3+b1_amd64.deb
Size: 10
SHA256: dd44

Package: evil
Version: 1.0
Architecture: all
Filename: pool/../../etc/passwd.deb
Size: 1
SHA256: ee55
"""


def test_sources_at_their_newest_version_with_their_binaries() -> None:
    updates = parse_packages(PACKAGES)
    assert set(updates) == {"openssl", "foo"}
    openssl = updates["openssl"]
    assert openssl.version == "3.0.19-1~deb12u2"
    assert [(b.name, b.version) for b in openssl.binaries] == [
        ("libssl3", "3.0.19-1~deb12u2"),
        ("openssl", "3.0.19-1~deb12u2"),
    ]
    libssl = openssl.binary("libssl3")
    assert libssl is not None and libssl.sha256 == "aa11" and libssl.size == 2039888
    foo = updates["foo"]  # a binNMU belongs to its source version
    assert foo.version == "1.2-3" and foo.binaries[0].version == "1.2-3+b1"


def test_pool_paths_that_leave_the_pool_are_ignored() -> None:
    assert "evil" not in parse_packages(PACKAGES)


def test_release_checksums_and_fields() -> None:
    release = (
        "Origin: Debian\nCodename: bookworm-security\n"
        "Valid-Until: Sat, 05 Dec 2026 02:53:00 UTC\nMD5Sum:\n"
        " 0123 10 main/binary-amd64/Packages.xz\nSHA256:\n"
        " ABCD 383216 main/binary-amd64/Packages.xz\n e3b0 0 contrib/Contents-amd64\n"
    )
    assert release_checksums(release) == {
        "main/binary-amd64/Packages.xz": ("abcd", 383216),
        "contrib/Contents-amd64": ("e3b0", 0),
    }
    assert release_field(release, "Codename") == "bookworm-security"
    assert release_field(release, "Label") is None
