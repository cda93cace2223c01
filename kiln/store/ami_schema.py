"""Kiln's AMIs: one row per machine image in one account and region. Migration 0005 creates it;
0008 adds `deprecation_time` (EnableImageDeprecation's time, or None).

The disk behind an AMI is a file under the region's image store (`disk`, relative to the store
root); copies in other accounts or regions may share a file, so a disk is removed only when no
row names it any more.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kiln.store.schema import Base


class AmiRow(Base):
    __tablename__ = "amis"
    __table_args__ = (
        Index("ix_amis_owner", "account", "region", "name"),
        Index("ix_amis_image", "image_arn"),
        Index("ix_amis_disk", "disk"),
        Index("ix_amis_deprecation", "deprecation_time"),
    )

    ami_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    state_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    image_arn: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    source_ami: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source_region: Mapped[str | None] = mapped_column(String(32), nullable=True)
    disk: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(Integer, default=0)
    architecture: Mapped[str] = mapped_column(String(16), default="x86_64")
    kms_key_id: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    launch_permissions: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    deprecation_time: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
