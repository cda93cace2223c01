"""Debian changelogs: entries, the ones newer than an installed version, the ids they name."""

from __future__ import annotations

import datetime as dt

from kiln.scan import changelog

OPENSSL = """\
openssl (3.0.19-1~deb12u2) bookworm-security; urgency=high

  * CVE-2026-28387 ("Potential use-after-free in DANE client code")
  * CVE-2026-28389 ("Possible NULL dereference when processing CMS
    KeyAgreeRecipientInfo")
  * DSA-6001-1 follow-up.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Fri, 03 Apr 2026 14:29:32 +0200

openssl (3.0.19-1~deb12u1) bookworm; urgency=medium

  * Import 3.0.19

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sun, 22 Feb 2026 18:36:50 +0100

openssl (3.0.18-1~deb12u2) bookworm-security; urgency=medium

  [ Salvatore Bonaccorso ]
  * Stack buffer overflow in CMS AuthEnvelopedData parsing (CVE-2025-15467)
    (Closes: #1000001)
  * CVE-2026-28387: earlier, incomplete fix.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sat, 24 Jan 2026 16:01:59 +0100

openssl (3.0.17-1~deb12u1) bookworm; urgency=low

  * CVE-2020-0001 long fixed.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sat, 01 Nov 2025 10:00:00 +0100
"""


def test_entries_are_read_newest_first_with_urgency_and_date() -> None:
    entries = changelog.parse(OPENSSL)
    assert [e.version for e in entries] == [
        "3.0.19-1~deb12u2",
        "3.0.19-1~deb12u1",
        "3.0.18-1~deb12u2",
        "3.0.17-1~deb12u1",
    ]
    top = entries[0]
    assert top.package == "openssl"
    assert top.distributions == ("bookworm-security",)
    assert top.urgency == "high"
    assert top.date == dt.datetime(2026, 4, 3, 12, 29, 32, tzinfo=dt.UTC)
    assert top.lines[0].startswith("  * CVE-2026-28387")
    assert entries[3].urgency == "low"


def test_ids_and_the_item_that_names_them() -> None:
    top, _, older, _ = changelog.parse(OPENSSL)
    assert top.cves() == ["CVE-2026-28387", "CVE-2026-28389"]
    assert top.advisories() == ["DSA-6001-1"]
    assert top.item_mentioning("CVE-2026-28389") == (
        'CVE-2026-28389 ("Possible NULL dereference when processing CMS KeyAgreeRecipientInfo")'
    )
    assert older.cves() == ["CVE-2025-15467", "CVE-2026-28387"]
    assert older.item_mentioning("CVE-2025-15467") == (
        "Stack buffer overflow in CMS AuthEnvelopedData parsing (CVE-2025-15467) (Closes: #1000001)"
    )


def test_newer_than_uses_dpkg_ordering() -> None:
    entries = changelog.parse(OPENSSL)
    assert [e.version for e in changelog.newer_than(entries, "3.0.18-1~deb12u1")] == [
        "3.0.19-1~deb12u2",
        "3.0.19-1~deb12u1",
        "3.0.18-1~deb12u2",
    ]
    assert changelog.newer_than(entries, "3.0.19-1~deb12u2") == []
    assert len(changelog.newer_than(entries, "3.0.17-1")) == 3  # ~deb12u1 < -1


def test_lines_outside_entries_and_a_missing_trailer_are_tolerated() -> None:
    text = "garbage before\n\nfoo (1.0-2) unstable; urgency=critical\n\n  * CVE-2024-12345\n"
    (entry,) = changelog.parse(text)
    assert entry.urgency == "critical" and entry.cves() == ["CVE-2024-12345"]
    assert entry.date is None


def test_dla_ids_and_short_cve_numbers_are_not_confused() -> None:
    (entry,) = changelog.parse(
        "bar (2.0-1+deb11u1) bullseye-security; urgency=medium\n\n"
        "  * Non-maintainer upload by the LTS Team (DLA 3456-1).\n"
        "  * Not an id: CVE-2024-123, XCVE-2024-1234.\n"
        "  * Fix CVE-2024-123456.\n\n"
        " -- LTS <lts@debian.org>  Mon, 01 Jan 2024 00:00:00 +0000\n"
    )
    assert entry.advisories() == ["DLA-3456-1"]
    assert entry.cves() == ["CVE-2024-123456"]
