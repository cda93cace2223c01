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


class IamEntityRow(Base):
    """An IAM user, role, customer managed policy or instance profile.

    IAM names are unique per account and kind regardless of case (`name_key` is lower-cased).
    `body` holds the kind's attributes: trust policy, description, tags, attached policy ARNs,
    inline policies, policy versions, the roles of an instance profile.
    """

    __tablename__ = "iam_entities"
    __table_args__ = (UniqueConstraint("account", "kind", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[str] = mapped_column(String(32), unique=True)
    path: Mapped[str] = mapped_column(String(512))
    arn: Mapped[str] = mapped_column(String(1024), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class CredentialRow(Base):
    """An access key: a user's long-term key or an STS session's temporary one.

    The secret is kept encrypted with the data directory's key (it must be recoverable to
    verify SigV4); a session token is kept only as its SHA-256.
    """

    __tablename__ = "iam_credentials"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(16))
    user_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    role_arn: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    session_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    session_token_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
