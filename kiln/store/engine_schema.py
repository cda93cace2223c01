"""The engine's tables: work items (leased), the ledger of created resources, workflow and step
executions, and the package inventory of built images. Migration 0003 creates them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kiln.store.schema import Base


class WorkItemRow(Base):
    """One unit of engine work on an image: queued → running (leased) → done | failed."""

    __tablename__ = "work_items"
    __table_args__ = (
        Index("ix_work_items_state", "state", "id"),
        Index("ix_work_items_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))
    lease_owner: Mapped[str | None] = mapped_column(String(256), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LedgerRow(Base):
    """A resource a build creates, written before it is created; released when removed."""

    __tablename__ = "ledger"
    __table_args__ = (Index("ix_ledger_image", "image_arn", "released_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_arn: Mapped[str] = mapped_column(String(1024))
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WorkflowExecutionRow(Base):
    __tablename__ = "workflow_executions"
    __table_args__ = (Index("ix_workflow_executions_image", "image_arn"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    image_arn: Mapped[str] = mapped_column(String(1024))
    workflow_arn: Mapped[str] = mapped_column(String(1024))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    parallel_group: Mapped[str | None] = mapped_column(String(128), nullable=True)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    steps_succeeded: Mapped[int] = mapped_column(Integer, default=0)
    steps_failed: Mapped[int] = mapped_column(Integer, default=0)
    steps_skipped: Mapped[int] = mapped_column(Integer, default=0)
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StepExecutionRow(Base):
    __tablename__ = "step_executions"
    __table_args__ = (
        Index("ix_step_executions_execution", "execution_id", "position"),
        Index("ix_step_executions_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    execution_id: Mapped[str] = mapped_column(String(64))
    image_arn: Mapped[str] = mapped_column(String(1024))
    account: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    rollback_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    inputs: Mapped[str | None] = mapped_column(Text, nullable=True)
    outputs: Mapped[str | None] = mapped_column(Text, nullable=True)
    on_failure: Mapped[str] = mapped_column(String(16))
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ImagePackageRow(Base):
    """The package inventory of an image build version (ListImagePackages)."""

    __tablename__ = "image_packages"

    image_arn: Mapped[str] = mapped_column(String(1024), primary_key=True)
    packages: Mapped[list[dict[str, str]]] = mapped_column(JSON)
