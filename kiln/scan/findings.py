"""Vulnerabilities as Image Builder's ImageScanFinding (botocore's imagebuilder model), and the
severity arithmetic of ListImageScanFindingAggregations.

Severity comes from the urgency of the changelog entry that fixes the vulnerability, the only
rating Debian's archive itself carries:

    urgency=low → LOW, medium → MEDIUM, high → HIGH, emergency | critical → CRITICAL,
    missing or anything else → UNTRIAGED

Debian's security uploads mostly say `medium`; the tracker's per-CVE ratings are not in the
archive, so Kiln does not claim them. No Inspector score is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from kiln.scan.debversion import DebianVersion, InvalidVersionError
from kiln.scan.scanner import AffectedPackage, Vulnerability

TRACKER = "https://security-tracker.debian.org/tracker"
FINDING_TYPE = "PACKAGE_VULNERABILITY"
SOURCE = "DEBIAN_CVE"
_LIMIT = 1024


class Severity(StrEnum):
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"
    UNTRIAGED = "UNTRIAGED"


URGENCY_SEVERITY = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "emergency": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
}


def severity_of(urgency: str) -> Severity:
    return URGENCY_SEVERITY.get(urgency.lower(), Severity.UNTRIAGED)


def tracker_url(identifier: str, source: str) -> str:
    if identifier.startswith(("CVE-", "DSA-", "DLA-")):
        return f"{TRACKER}/{identifier}"
    return f"{TRACKER}/source-package/{source}"


def finding(
    vulnerability: Vulnerability,
    *,
    account: str,
    image_arn: str,
    pipeline_arn: str | None,
    codename: str,
    observed: dt.datetime,
) -> dict[str, Any]:
    """One ImageScanFinding (timestamps as epoch seconds, as the wire carries them)."""
    v = vulnerability
    names = sorted({p.installed.name for p in v.packages})
    url = tracker_url(v.id, v.source)
    details: dict[str, Any] = {
        "vulnerabilityId": v.id,
        "vulnerablePackages": [_package(p) for p in v.packages],
        "source": SOURCE,
        "sourceUrl": url,
        "relatedVulnerabilities": list(v.related) or None,
        "vendorSeverity": v.urgency or None,
        "vendorCreatedAt": v.published.timestamp() if v.published else None,
        "referenceUrls": [url, *(tracker_url(r, v.source) for r in v.related)],
    }
    body: dict[str, Any] = {
        "awsAccountId": account,
        "imageBuildVersionArn": image_arn,
        "imagePipelineArn": pipeline_arn,
        "type": FINDING_TYPE,
        "title": _clip(f"{v.id} - {', '.join(names)}"),
        "description": _clip(v.description or f"{v.source} {v.fixed_version} fixes {v.id}."),
        "remediation": {
            "recommendation": {
                "text": _clip(
                    f"Upgrade {', '.join(names)} to the version in {codename}-security "
                    f"({v.source} {v.fixed_version}) or later."
                ),
                "url": url,
            }
        },
        "severity": severity_of(v.urgency).value,
        "firstObservedAt": observed.timestamp(),
        "updatedAt": observed.timestamp(),
        "packageVulnerabilityDetails": _compact(details),
        "fixAvailable": "YES",
    }
    return _compact(body)


def _package(affected: AffectedPackage) -> dict[str, Any]:
    installed = affected.installed
    try:
        parsed = DebianVersion.parse(installed.version)
        epoch, version, release = parsed.epoch, parsed.upstream, parsed.revision
    except InvalidVersionError:
        epoch, version, release = 0, installed.version, ""
    return _compact(
        {
            "name": installed.name,
            "version": version,
            "epoch": epoch,
            "release": release or None,
            "arch": installed.architecture or None,
            "packageManager": "OS",
            "fixedInVersion": _with_epoch(affected.fixed_in),
            "remediation": f"apt-get update && apt-get install --only-upgrade {installed.name}",
        }
    )


def _with_epoch(version: str) -> str:
    """Inspector's form of a fixed version: the epoch always written (`0:1.2-3`)."""
    return version if ":" in version else f"0:{version}"


def severity_counts(severities: Iterable[str]) -> dict[str, int]:
    """AWS's SeverityCounts: every finding in `all`; CRITICAL, HIGH and MEDIUM by themselves."""
    values = list(severities)
    return {
        "all": len(values),
        "critical": values.count(Severity.CRITICAL.value),
        "high": values.count(Severity.HIGH.value),
        "medium": values.count(Severity.MEDIUM.value),
    }


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != ""}
