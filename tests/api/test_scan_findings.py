"""ListImageScanFindings and ListImageScanFindingAggregations through unmodified boto3: the
filters of the model, pagination, aggregations, and accounts kept apart."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kiln.scan import InstalledPackage, Vulnerability, finding
from kiln.scan.findings import severity_of
from kiln.scan.scanner import AffectedPackage
from kiln.store.scan_schema import ScanFindingRow
from tests.api.factories import add_image
from tests.conftest import client_for

PIPELINE = "arn:aws:imagebuilder:us-east-1:{account}:image-pipeline/nightly"


def _store(kiln: Any, image_arn: str, vulns: list[tuple[str, str]], *, pipeline: str | None):
    account = image_arn.split(":")[4]
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with kiln.database.transaction() as session:
        for identifier, urgency in vulns:
            package = InstalledPackage("curl", "7.88.1-10", "amd64", "curl", "7.88.1-10")
            vulnerability = Vulnerability(
                id=identifier, source="curl", fixed_version="7.88.1-10+deb12u9",
                packages=(AffectedPackage(package, "7.88.1-10+deb12u9"),), urgency=urgency,
                description=f"Fix {identifier}.",
            )  # fmt: skip
            body = finding(
                vulnerability, account=account, image_arn=image_arn, pipeline_arn=pipeline,
                codename="bookworm", observed=now,
            )  # fmt: skip
            session.add(
                ScanFindingRow(
                    account=account,
                    region="us-east-1",
                    image_arn=image_arn,
                    pipeline_arn=pipeline,
                    vulnerability_id=identifier,
                    severity=severity_of(urgency).value,
                    finding=body,
                    observed_at=now,
                )
            )


@pytest.fixture
def scanned(kiln: Any) -> dict[str, str]:
    pipeline = PIPELINE.format(account=kiln.default_account)
    first = add_image(kiln, "web", "1.0.0", pipeline_arn=pipeline)
    second = add_image(kiln, "api", "2.0.0")
    _store(
        kiln, first,
        [("CVE-2025-0001", "high"), ("CVE-2025-0002", "medium"), ("CVE-2025-0003", "emergency")],
        pipeline=pipeline,
    )  # fmt: skip
    _store(kiln, second, [("CVE-2025-0001", "low"), ("DSA-5800-1", "")], pipeline=None)
    return {"first": first, "second": second, "pipeline": pipeline}


def _ids(response: dict[str, Any]) -> list[str]:
    return [f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in response["findings"]]


def test_findings_are_listed_and_filtered(ib: Any, scanned: dict[str, str]) -> None:
    assert len(ib.list_image_scan_findings()["findings"]) == 5
    by_image = ib.list_image_scan_findings(
        filters=[{"name": "imageBuildVersionArn", "values": [scanned["second"]]}]
    )
    assert _ids(by_image) == ["CVE-2025-0001", "DSA-5800-1"]
    by_pipeline = ib.list_image_scan_findings(
        filters=[{"name": "imagePipelineArn", "values": [scanned["pipeline"]]}]
    )
    assert _ids(by_pipeline) == ["CVE-2025-0001", "CVE-2025-0002", "CVE-2025-0003"]
    by_id = ib.list_image_scan_findings(
        filters=[{"name": "vulnerabilityId", "values": ["CVE-2025-0001"]}]
    )
    assert {f["imageBuildVersionArn"] for f in by_id["findings"]} == {
        scanned["first"],
        scanned["second"],
    }
    critical = ib.list_image_scan_findings(filters=[{"name": "severity", "values": ["CRITICAL"]}])
    assert _ids(critical) == ["CVE-2025-0003"]
    untriaged = ib.list_image_scan_findings(filters=[{"name": "severity", "values": ["UNTRIAGED"]}])
    assert _ids(untriaged) == ["DSA-5800-1"]
    (first,) = by_pipeline["findings"][:1]
    assert first["firstObservedAt"] == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert first["packageVulnerabilityDetails"]["sourceUrl"].endswith("/tracker/CVE-2025-0001")


def test_pages_follow_next_tokens(ib: Any, scanned: dict[str, str]) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"maxResults": 2, **({"nextToken": token} if token else {})}
        page = ib.list_image_scan_findings(**kwargs)
        seen += _ids(page)
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 3 and len(seen) == 5
    paginated = ib.get_paginator("list_image_scan_findings").paginate(
        PaginationConfig={"PageSize": 4}
    )
    assert sum(len(p["findings"]) for p in paginated) == 5
    with pytest.raises(ClientError) as caught:
        ib.list_image_scan_findings(nextToken=token or "forged.token")
    assert caught.value.response["Error"]["Code"] == "InvalidPaginationTokenException"


def test_an_unknown_filter_is_refused(ib: Any, scanned: dict[str, str]) -> None:
    with pytest.raises(ClientError) as caught:
        ib.list_image_scan_findings(filters=[{"name": "packageName", "values": ["curl"]}])
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "packageName" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        ib.list_image_scan_finding_aggregations(filter={"name": "severity", "values": ["HIGH"]})
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"


def test_aggregations_count_by_key(ib: Any, kiln: Any, scanned: dict[str, str]) -> None:
    account = ib.list_image_scan_finding_aggregations()
    assert account["aggregationType"] == "accountId"
    assert account["responses"] == [
        {
            "accountAggregation": {
                "accountId": kiln.default_account,
                "severityCounts": {"all": 5, "critical": 1, "high": 1, "medium": 1},
            }
        }
    ]
    images = ib.list_image_scan_finding_aggregations(
        filter={"name": "imageBuildVersionArn", "values": [scanned["first"], scanned["second"]]}
    )
    assert images["aggregationType"] == "imageBuildVersionArn"
    assert [r["imageAggregation"]["severityCounts"] for r in images["responses"]] == [
        {"all": 3, "critical": 1, "high": 1, "medium": 1},
        {"all": 2, "critical": 0, "high": 0, "medium": 0},
    ]
    pipeline = ib.list_image_scan_finding_aggregations(
        filter={"name": "imagePipelineArn", "values": [scanned["pipeline"]]}
    )
    assert pipeline["responses"][0]["imagePipelineAggregation"] == {
        "imagePipelineArn": scanned["pipeline"],
        "severityCounts": {"all": 3, "critical": 1, "high": 1, "medium": 1},
    }
    vulns = ib.list_image_scan_finding_aggregations(
        filter={"name": "vulnerabilityId", "values": ["CVE-2025-0001"]}
    )
    assert vulns["responses"] == [
        {
            "vulnerabilityIdAggregation": {
                "vulnerabilityId": "CVE-2025-0001",
                "severityCounts": {"all": 2, "critical": 0, "high": 1, "medium": 0},
            }
        }
    ]


def test_another_account_sees_none_of_them(
    kiln: Any, endpoint: str, ib: Any, scanned: dict[str, str]
) -> None:
    other = client_for(endpoint, kiln.create_account("other"))
    assert other.list_image_scan_findings()["findings"] == []
    assert (
        other.list_image_scan_findings(
            filters=[{"name": "imageBuildVersionArn", "values": [scanned["first"]]}]
        )["findings"]
        == []
    )
    (response,) = other.list_image_scan_finding_aggregations()["responses"]
    assert response["accountAggregation"]["severityCounts"]["all"] == 0
    assert (
        other.list_image_scan_finding_aggregations(
            filter={"name": "accountId", "values": [kiln.default_account]}
        )["responses"]
        == []
    )
    assert len(ib.list_image_scan_findings()["findings"]) == 5


def test_a_deleted_images_findings_are_not_listed(
    ib: Any, kiln: Any, scanned: dict[str, str]
) -> None:
    from kiln.store import resources

    with kiln.database.transaction() as session:
        row = resources.by_arn(session, scanned["second"])
        assert row is not None
        session.delete(row)
    assert len(ib.list_image_scan_findings()["findings"]) == 3
