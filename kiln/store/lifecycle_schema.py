"""Lifecycle executions: one run of a lifecycle policy or one StartResourceStateUpdate, and the
resources it acted on. Migration 0004 creates the tables.

A resource row is an image (no parent) or an artifact the image produced (an AMI or a container
image, its parent the image ARN). Artifacts a DELETE marked for removal keep
`artifact_removed_at` empty until whoever owns them removes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kiln.store.schema import Base


class LifecycleExecutionRow(Base):
    __tablename__ = "lifecycle_executions"
    __table_args__ = (
        Index("ix_lifecycle_executions_policy", "policy_arn"),
        Index("ix_lifecycle_executions_status", "status", "update_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    policy_arn: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    resource_arn: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    has_impacted: Mapped[bool] = mapped_column(Boolean, default=False)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    update_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LifecycleResourceRow(Base):
    __tablename__ = "lifecycle_execution_resources"
    __table_args__ = (
        Index("ix_lifecycle_resources_execution", "execution_id", "parent_id"),
        Index("ix_lifecycle_resources_resource", "resource_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(1024))
    parent_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    action_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    image_uris: Mapped[list[str]] = mapped_column(JSON)
    start_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    artifact_removed_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
