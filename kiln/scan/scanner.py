"""Matching an inventory against a security archive.

An installed binary package is vulnerable when `<codename>-security` carries its source package
at a newer version (dpkg's comparison). Its vulnerabilities are the CVE ids (and DSA/DLA ids)
that the fixed version's changelog names in the entries newer than the installed version; the
urgency of the newest such entry gives the severity. A fix whose changelog names no CVE is one
vulnerability named after its advisory, or `DEBIAN-<source>-<version>` when it names none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from kiln.scan import changelog
from kiln.scan.advisories import AdvisorySource
from kiln.scan.changelog import ChangelogEntry
from kiln.scan.debversion import DebianVersion, InvalidVersionError, compare_parsed
from kiln.scan.index import SourceUpdate
from kiln.scan.inventory import InstalledPackage

URGENCY_RANK = {"low": 1, "medium": 2, "high": 3, "emergency": 4, "critical": 4}


@dataclass(frozen=True)
class AffectedPackage:
    installed: InstalledPackage
    fixed_in: str
    """The version of this binary package in -security (the source's when it has none)."""


@dataclass(frozen=True)
class Vulnerability:
    id: str
    source: str
    fixed_version: str
    packages: tuple[AffectedPackage, ...]
    urgency: str = ""
    description: str = ""
    related: tuple[str, ...] = ()
    published: dt.datetime | None = None


def find_vulnerabilities(
    inventory: Sequence[InstalledPackage],
    advisories: AdvisorySource,
    *,
    codename: str,
    architecture: str,
) -> list[Vulnerability]:
    updates = advisories.updates(codename, architecture)
    by_source: dict[str, list[InstalledPackage]] = {}
    for package in inventory:
        by_source.setdefault(package.source, []).append(package)
    found: list[Vulnerability] = []
    for source in sorted(by_source):
        update = updates.get(source)
        if update is None:
            continue
        outdated = [p for p in by_source[source] if _older(p.source_version, update.version)]
        if not outdated:
            continue
        text = advisories.changelog(codename, update, [p.name for p in outdated])
        found += vulnerabilities_of(update, outdated, text)
    return found


def vulnerabilities_of(
    update: SourceUpdate, outdated: Sequence[InstalledPackage], text: str | None
) -> list[Vulnerability]:
    """The vulnerabilities the fixed version's changelog names for these installed packages."""
    oldest = min(outdated, key=lambda p: _parsed(p.source_version)).source_version
    entries = changelog.newer_than(changelog.parse(text), oldest) if text else []
    named: dict[str, list[ChangelogEntry]] = {}
    for entry in entries:
        for identifier in entry.cves():
            named.setdefault(identifier, []).append(entry)
    if not named:
        fallback = next((a for e in entries for a in e.advisories()), None)
        named[fallback or f"DEBIAN-{update.source}-{update.version}"] = entries
    return [
        _vulnerability(update, outdated, identifier, mentions)
        for identifier, mentions in named.items()
    ]


def _vulnerability(
    update: SourceUpdate,
    outdated: Sequence[InstalledPackage],
    identifier: str,
    mentions: Sequence[ChangelogEntry],
) -> Vulnerability:
    newest = mentions[0] if mentions else None
    affected = tuple(
        AffectedPackage(p, _fixed_in(update, p))
        for p in outdated
        if newest is None or _older(p.source_version, newest.version)
    )
    urgency = max((e.urgency for e in mentions), key=lambda u: URGENCY_RANK.get(u, 0), default="")
    related = tuple(dict.fromkeys(a for e in mentions for a in e.advisories() if a != identifier))
    return Vulnerability(
        id=identifier,
        source=update.source,
        fixed_version=update.version,
        packages=affected or tuple(AffectedPackage(p, _fixed_in(update, p)) for p in outdated),
        urgency=urgency,
        description=newest.item_mentioning(identifier) if newest else "",
        related=related,
        published=min((e.date for e in mentions if e.date), default=None),
    )


def _fixed_in(update: SourceUpdate, package: InstalledPackage) -> str:
    binary = update.binary(package.name)
    return binary.version if binary is not None else update.version


def _older(installed: str, candidate: str) -> bool:
    try:
        return compare_parsed(_parsed(installed), _parsed(candidate)) < 0
    except InvalidVersionError:
        return False


def _parsed(version: str) -> DebianVersion:
    return DebianVersion.parse(version)
