"""Matching an inventory against advisories (a fake at the port), the ImageScanFinding shape,
and the severity arithmetic of aggregations."""

from __future__ import annotations

import datetime as dt

import botocore.session

from kiln.scan import find_vulnerabilities, finding, parse_inventory
from kiln.scan.findings import severity_counts, severity_of
from kiln.services.imagebuilder.scan_findings import aggregate
from kiln.store.scan_schema import ScanFindingRow
from tests.api.conftest import shape_violations
from tests.unit.scan.fakes import FakeAdvisories, update

IMAGE = "arn:aws:imagebuilder:us-east-1:111122223333:image/app/1.0.0/1"
PIPELINE = "arn:aws:imagebuilder:us-east-1:111122223333:image-pipeline/app"
CURL_LOG = """\
curl (7.88.1-10+deb12u9) bookworm-security; urgency=high

  * Fix CVE-2025-0001 (cookie parser overflow).
  * Fix CVE-2025-0002.

 -- T <t@example.org>  Mon, 03 Feb 2025 10:00:00 +0000

curl (7.88.1-10+deb12u8) bookworm-security; urgency=medium

  * Fix CVE-2024-9999 (DSA-5800-1).

 -- T <t@example.org>  Mon, 02 Dec 2024 10:00:00 +0000

curl (7.88.1-10+deb12u5) bookworm; urgency=medium

  * Fix CVE-2023-0001.

 -- T <t@example.org>  Mon, 02 Jan 2024 10:00:00 +0000
"""
DPKG = (
    "ii \tcurl\t7.88.1-10+deb12u8\tamd64\tcurl\t7.88.1-10+deb12u8\n"
    "ii \tlibcurl4\t7.88.1-10+deb12u5\tamd64\tcurl\t7.88.1-10+deb12u5\n"
    "ii \tbash\t5.2.15-2+b8\tamd64\tbash\t5.2.15-2\n"
    "rc \tgone\t1.0\tamd64\tgone\t1.0\n"
    "ii \tzlib1g\t1:1.2.13.dfsg-1\tamd64\tzlib\t1:1.2.13.dfsg-1\n"
    "ii \topenssl\t3.0.19-1~deb12u2\tamd64\topenssl\t3.0.19-1~deb12u2\n"
)


def _advisories() -> FakeAdvisories:
    return FakeAdvisories(
        known={
            "curl": update("curl", "7.88.1-10+deb12u9", "curl", "libcurl4"),
            "bash": update("bash", "5.2.15-2+deb12u1"),
            "zlib": update("zlib", "1:1.2.13.dfsg-1+deb12u1", "zlib1g"),
            "openssl": update("openssl", "3.0.19-1~deb12u2"),  # installed = fixed
        },
        changelogs={"curl": CURL_LOG},
    )


def test_inventory_keeps_installed_packages_with_their_sources() -> None:
    packages = parse_inventory(DPKG)
    assert [p.name for p in packages] == ["bash", "curl", "libcurl4", "openssl", "zlib1g"]
    bash = packages[0]
    assert (bash.source, bash.source_version, bash.version) == ("bash", "5.2.15-2", "5.2.15-2+b8")


def test_only_packages_older_than_security_are_vulnerable_with_the_newer_cves() -> None:
    advisories = _advisories()
    found = find_vulnerabilities(
        parse_inventory(DPKG), advisories, codename="bookworm", architecture="amd64"
    )
    assert advisories.asked == [("bookworm", "amd64")]
    by_id = {v.id: v for v in found}
    assert set(by_id) == {
        "CVE-2025-0001",
        "CVE-2025-0002",
        "CVE-2024-9999",
        "DEBIAN-bash-5.2.15-2+deb12u1",  # no changelog: one finding for the fix
        "DEBIAN-zlib-1:1.2.13.dfsg-1+deb12u1",
    }
    # curl (deb12u8) is past CVE-2024-9999's fix; libcurl4 (deb12u5) is not.
    assert [p.installed.name for p in by_id["CVE-2024-9999"].packages] == ["libcurl4"]
    assert [p.installed.name for p in by_id["CVE-2025-0001"].packages] == ["curl", "libcurl4"]
    assert by_id["CVE-2025-0001"].urgency == "high"
    assert by_id["CVE-2024-9999"].related == ("DSA-5800-1",)
    assert by_id["CVE-2025-0001"].description == "Fix CVE-2025-0001 (cookie parser overflow)."
    assert "CVE-2023-0001" not in by_id  # older than what is installed


def test_a_finding_has_botocores_shape_and_inspectors_fields() -> None:
    found = find_vulnerabilities(
        parse_inventory(DPKG), _advisories(), codename="bookworm", architecture="amd64"
    )
    observed = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    model = botocore.session.get_session().get_service_model("imagebuilder")
    shape = model.shape_for("ImageScanFinding")
    bodies = {
        v.id: finding(
            v,
            account="111122223333",
            image_arn=IMAGE,
            pipeline_arn=PIPELINE,
            codename="bookworm",
            observed=observed,
        )
        for v in found
    }
    for body in bodies.values():
        assert shape_violations(shape, body, "finding") == []
    body = bodies["CVE-2025-0001"]
    assert body["type"] == "PACKAGE_VULNERABILITY" and body["fixAvailable"] == "YES"
    assert body["severity"] == "HIGH" and body["firstObservedAt"] == observed.timestamp()
    assert body["imagePipelineArn"] == PIPELINE and body["awsAccountId"] == "111122223333"
    details = body["packageVulnerabilityDetails"]
    assert details["source"] == "DEBIAN_CVE" and details["vendorSeverity"] == "high"
    assert details["sourceUrl"] == "https://security-tracker.debian.org/tracker/CVE-2025-0001"
    libcurl = next(p for p in details["vulnerablePackages"] if p["name"] == "libcurl4")
    assert libcurl == {
        "name": "libcurl4",
        "version": "7.88.1",
        "epoch": 0,
        "release": "10+deb12u5",
        "arch": "amd64",
        "packageManager": "OS",
        "fixedInVersion": "0:7.88.1-10+deb12u9",
        "remediation": "apt-get update && apt-get install --only-upgrade libcurl4",
    }
    zlib = bodies["DEBIAN-zlib-1:1.2.13.dfsg-1+deb12u1"]
    (package,) = zlib["packageVulnerabilityDetails"]["vulnerablePackages"]
    assert package["epoch"] == 1 and package["fixedInVersion"] == "1:1.2.13.dfsg-1+deb12u1"
    assert zlib["severity"] == "UNTRIAGED"


def test_urgency_maps_to_aws_severity() -> None:
    assert [severity_of(u).value for u in ("low", "medium", "high", "emergency", "critical")] == [
        "LOW", "MEDIUM", "HIGH", "CRITICAL", "CRITICAL",
    ]  # fmt: skip
    assert severity_of("").value == "UNTRIAGED" and severity_of("bogus").value == "UNTRIAGED"


def test_severity_counts_count_all_and_medium_and_above() -> None:
    counts = severity_counts(["LOW", "MEDIUM", "HIGH", "HIGH", "CRITICAL", "UNTRIAGED"])
    assert counts == {"all": 6, "critical": 1, "high": 2, "medium": 1}
    assert severity_counts([]) == {"all": 0, "critical": 0, "high": 0, "medium": 0}


def _row(image: str, vulnerability: str, severity: str, pipeline: str | None = None):
    return ScanFindingRow(
        account="111122223333", region="us-east-1", image_arn=image, pipeline_arn=pipeline,
        vulnerability_id=vulnerability, severity=severity, finding={},
    )  # fmt: skip


def test_aggregations_group_by_the_filter_key() -> None:
    other = IMAGE.replace("/1.0.0/1", "/1.0.0/2")
    rows = [
        _row(IMAGE, "CVE-1", "HIGH", PIPELINE),
        _row(IMAGE, "CVE-2", "LOW", PIPELINE),
        _row(other, "CVE-1", "CRITICAL"),
    ]
    account = aggregate(rows, "accountId", None, account="111122223333")
    assert account == [
        {
            "accountAggregation": {
                "accountId": "111122223333",
                "severityCounts": {"all": 3, "critical": 1, "high": 1, "medium": 0},
            }
        }
    ]
    images = aggregate(rows, "imageBuildVersionArn", [other, IMAGE, "nope"], account="x")
    assert [a["imageAggregation"]["imageBuildVersionArn"] for a in images] == [other, IMAGE]
    assert images[1]["imageAggregation"]["severityCounts"]["all"] == 2
    vulns = aggregate(rows, "vulnerabilityId", None, account="x")
    assert vulns[0]["vulnerabilityIdAggregation"] == {
        "vulnerabilityId": "CVE-1",
        "severityCounts": {"all": 2, "critical": 1, "high": 1, "medium": 0},
    }
    pipelines = aggregate(rows, "imagePipelineArn", None, account="x")
    assert pipelines == [
        {
            "imagePipelineAggregation": {
                "imagePipelineArn": PIPELINE,
                "severityCounts": {"all": 2, "critical": 0, "high": 1, "medium": 0},
            }
        }
    ]
    nothing = aggregate([], "accountId", ["111122223333"], account="111122223333")
    assert nothing[0]["accountAggregation"]["severityCounts"]["all"] == 0
    assert aggregate([], "accountId", ["444455556666"], account="111122223333") == []
