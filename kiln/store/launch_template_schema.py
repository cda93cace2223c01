"""EC2 launch templates: one row per template in one account and region, one row per version.
Migration 0007 creates them.

A template's name is unique in its account and region. Version numbers count up from 1 and
are never reused: `last_version` remembers the highest number ever given, `latest_version` the
highest that still exists. A version's `data` is its LaunchTemplateData as the request gave it
(EC2's member names, timestamps as ISO 8601 text).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiln.store.schema import Base


class LaunchTemplateRow(Base):
    __tablename__ = "launch_templates"
    __table_args__ = (
        UniqueConstraint("account", "region", "name", name="uq_launch_templates_name"),
        Index("ix_launch_templates_scope", "account", "region"),
    )

    launch_template_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    default_version: Mapped[int] = mapped_column(Integer)
    latest_version: Mapped[int] = mapped_column(Integer)
    last_version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(2048))
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LaunchTemplateVersionRow(Base):
    __tablename__ = "launch_template_versions"

    launch_template_id: Mapped[str] = mapped_column(
        String(32),
        ForeignKey("launch_templates.launch_template_id", ondelete="CASCADE"),
        primary_key=True,
    )
    version_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
