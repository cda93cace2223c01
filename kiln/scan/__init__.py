"""Kiln's offline image scanner: installed Debian packages against Debian's security archive.

    inventory   what dpkg says is installed (binary and source names and versions)
    index       <codename>-security's Packages: each source package at its newest version
    debversion  dpkg's version comparison, exactly
    changelog   the fixed version's debian/changelog → CVE / DSA / DLA ids, urgency
    scanner     inventory × advisories → vulnerabilities
    findings    vulnerabilities → Image Builder's ImageScanFinding; severity counts
    archive     DebianSecurityArchive, the AdvisorySource of the mirror apt uses (cached)

Errors: AdvisoryUnavailableError (the archive cannot be read), InvalidVersionError.
"""

from kiln.scan.advisories import AdvisorySource, AdvisoryUnavailableError
from kiln.scan.archive import DebianSecurityArchive
from kiln.scan.debversion import DebianVersion, InvalidVersionError, compare
from kiln.scan.findings import Severity, finding, severity_counts, severity_of
from kiln.scan.index import BinaryPackage, SourceUpdate
from kiln.scan.inventory import InstalledPackage, parse_inventory
from kiln.scan.scanner import Vulnerability, find_vulnerabilities

__all__ = [
    "AdvisorySource",
    "AdvisoryUnavailableError",
    "BinaryPackage",
    "DebianSecurityArchive",
    "DebianVersion",
    "InstalledPackage",
    "InvalidVersionError",
    "Severity",
    "SourceUpdate",
    "Vulnerability",
    "compare",
    "find_vulnerabilities",
    "finding",
    "parse_inventory",
    "severity_counts",
    "severity_of",
]
