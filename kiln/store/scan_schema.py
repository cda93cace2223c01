"""Image scan findings: the snapshot CollectImageScanFindings takes of an image's
vulnerabilities (ListImageScanFindings, ListImageScanFindingAggregations). Migration 0006
creates the table.

One row per (image, vulnerability); `finding` is the ImageScanFinding as the API answers it,
beside the columns the List filters and aggregations read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kiln.store.schema import Base


class ScanFindingRow(Base):
    __tablename__ = "image_scan_findings"
    __table_args__ = (
        Index("ix_image_scan_findings_scope", "account", "region", "id"),
        Index("ix_image_scan_findings_image", "image_arn"),
        Index("ix_image_scan_findings_vulnerability", "vulnerability_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    image_arn: Mapped[str] = mapped_column(String(1024))
    pipeline_arn: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    vulnerability_id: Mapped[str] = mapped_column(String(256))
    severity: Mapped[str] = mapped_column(String(16))
    finding: Mapped[dict[str, Any]] = mapped_column(JSON)
    observed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
