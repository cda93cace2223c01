"""Debian changelogs (debian/changelog, shipped as usr/share/doc/<pkg>/changelog.Debian.gz):
entries, the ones newer than an installed version, and the advisories they name.

    package (version) distribution(s); urgency=urgency
      * change details
        more change details
     -- maintainer name <email address>  date

The grammar is the one dpkg-parsechangelog reads (Dpkg::Changelog::Entry::Debian); lines that
fit nowhere are kept in the entry's body, as dpkg does.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass

from kiln.core.clock import as_utc
from kiln.scan.debversion import DebianVersion, InvalidVersionError, compare_parsed

_HEADER = re.compile(
    r"^(?P<package>\w[-+0-9a-z.]*) \((?P<version>[^() \t]+)\)"
    r"(?P<distributions>(?:\s+[-+0-9a-z.]+)+);(?P<options>.*?)\s*$",
    re.IGNORECASE,
)
_TRAILER = re.compile(r"^ -- (?P<maintainer>.*) <(?P<email>.*)>(?P<sep>  ?)(?P<date>.*)$")
_URGENCY = re.compile(r"\burgency=(\w+)", re.IGNORECASE)
CVE = re.compile(r"\bCVE-\d{4}-\d{4,}\b")
ADVISORY = re.compile(r"\b(D[SL]A)[- ](\d{3,}-\d+)\b")
"""Debian Security Advisories (DSA-5678-1) and Debian LTS Advisories (DLA-3456-1)."""


@dataclass(frozen=True)
class ChangelogEntry:
    package: str
    version: str
    distributions: tuple[str, ...]
    urgency: str
    lines: tuple[str, ...]
    date: dt.datetime | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def cves(self) -> list[str]:
        return _unique(CVE.findall(self.text))

    def advisories(self) -> list[str]:
        return _unique(f"{kind}-{number}" for kind, number in ADVISORY.findall(self.text))

    def item_mentioning(self, identifier: str) -> str:
        """The change item (`* ...` with its continuation lines) that names identifier,
        whitespace collapsed; the whole entry when no item does."""
        for item in _items(self.lines):
            if identifier in item:
                return item
        return " ".join(self.text.split())


def parse(text: str) -> list[ChangelogEntry]:
    """Every entry, newest first (the order of the file)."""
    entries: list[ChangelogEntry] = []
    header: re.Match[str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        started = _HEADER.match(line)
        if started:
            if header is not None:
                entries.append(_entry(header, body, None))
            header, body = started, []
            continue
        if header is None:
            continue
        ended = _TRAILER.match(line)
        if ended:
            entries.append(_entry(header, body, _date(ended.group("date"))))
            header, body = None, []
            continue
        body.append(line)
    if header is not None:
        entries.append(_entry(header, body, None))
    return entries


def newer_than(entries: list[ChangelogEntry], installed: str) -> list[ChangelogEntry]:
    """The entries whose version is newer than `installed` (what upgrading would bring)."""
    floor = DebianVersion.parse(installed)
    newer = []
    for entry in entries:
        try:
            version = DebianVersion.parse(entry.version)
        except InvalidVersionError:
            continue
        if compare_parsed(version, floor) > 0:
            newer.append(entry)
    return newer


def _entry(header: re.Match[str], body: list[str], date: dt.datetime | None) -> ChangelogEntry:
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    urgency = _URGENCY.search(header.group("options"))
    return ChangelogEntry(
        package=header.group("package"),
        version=header.group("version"),
        distributions=tuple(header.group("distributions").split()),
        urgency=urgency.group(1).lower() if urgency else "",
        lines=tuple(body),
        date=date,
    )


def _date(text: str) -> dt.datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return as_utc(moment)


def _items(lines: tuple[str, ...]) -> Iterator[str]:
    """Top-level change items (`  * ...` and the lines under it); `[ Name ]` groups end one."""
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        starts_item = re.match(r"^\s{1,3}\*\s", line) is not None
        if starts_item or (stripped.startswith("[") and stripped.endswith("]")):
            if current:
                yield " ".join(current)
            current = [stripped[1:].strip()] if starts_item else []
        elif stripped and current:
            current.append(stripped)
    if current:
        yield " ".join(current)


def _unique(values: Iterator[str] | list[str]) -> list[str]:
    return list(dict.fromkeys(values))
