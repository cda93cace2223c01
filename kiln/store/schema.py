"""The tables. Resources keep their AWS representation as a JSON document beside indexed
columns for lookups; references between resources are rows, so deletions can be refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AccountRow(Base):
    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ResourceRow(Base):
    """One Image Builder resource (or one build version of a versioned one)."""

    __tablename__ = "resources"
    __table_args__ = (
        Index("ix_resources_scope", "account", "region", "resource_type", "arn_name"),
        Index("ix_resources_owner", "owner", "region", "resource_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(64))
    arn: Mapped[str] = mapped_column(String(1024), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    arn_name: Mapped[str] = mapped_column(String(256))
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    major: Mapped[int | None] = mapped_column(Integer, nullable=True)
    minor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    patch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    build: Mapped[int | None] = mapped_column(Integer, nullable=True)
    owner: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    policy: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReferenceRow(Base):
    """`source_arn` uses `target_arn` (a recipe its component, a pipeline its recipe...)."""

    __tablename__ = "resource_refs"
    __table_args__ = (Index("ix_refs_target", "target_arn"), Index("ix_refs_source", "source_arn"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    source_arn: Mapped[str] = mapped_column(String(1024))
    target_arn: Mapped[str] = mapped_column(String(1024))


class BuildCounterRow(Base):
    """The last build number handed out for a version ARN (never reused, even after delete)."""

    __tablename__ = "build_counters"

    version_arn: Mapped[str] = mapped_column(String(1024), primary_key=True)
    last_build: Mapped[int] = mapped_column(Integer)


class ClientTokenRow(Base):
    """The first answer to a mutating request, keyed by its clientToken."""

    __tablename__ = "client_tokens"
    __table_args__ = (UniqueConstraint("account", "region", "operation", "token"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(128))
    token: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
