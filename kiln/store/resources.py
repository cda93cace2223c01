"""Repository functions over resources, references, build counters and client tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kiln.core.semver import Version
from kiln.store.schema import BuildCounterRow, ClientTokenRow, ReferenceRow, ResourceRow


@dataclass(frozen=True)
class Scope:
    """Who and where: every query is keyed by account and region."""

    account: str
    region: str


def add(
    session: Session,
    scope: Scope,
    *,
    resource_type: str,
    arn: str,
    name: str,
    arn_name: str,
    body: dict[str, Any],
    tags: dict[str, str],
    now: dt.datetime,
    version: Version | None = None,
    build: int | None = None,
    owner: str | None = None,
    status: str | None = None,
) -> ResourceRow:
    row = ResourceRow(
        account=scope.account,
        region=scope.region,
        resource_type=resource_type,
        arn=arn,
        name=name,
        arn_name=arn_name,
        version=str(version) if version else None,
        major=version.major if version else None,
        minor=version.minor if version else None,
        patch=version.patch if version else None,
        build=build,
        owner=owner or scope.account,
        status=status,
        created_at=now,
        updated_at=now,
        body=body,
        tags=tags,
    )
    session.add(row)
    session.flush()
    return row


def by_arn(session: Session, arn: str) -> ResourceRow | None:
    return session.scalars(select(ResourceRow).where(ResourceRow.arn == arn)).first()


def listing(
    session: Session,
    *,
    resource_type: str,
    region: str,
    owners: Sequence[str] | None = None,
    arn_name: str | None = None,
    version: str | None = None,
) -> list[ResourceRow]:
    """Rows of a type in a region, oldest first; narrowed by owner accounts, name, version."""
    query = select(ResourceRow).where(
        ResourceRow.resource_type == resource_type, ResourceRow.region == region
    )
    if owners is not None:
        query = query.where(ResourceRow.owner.in_(list(owners)))
    if arn_name is not None:
        query = query.where(ResourceRow.arn_name == arn_name)
    if version is not None:
        query = query.where(ResourceRow.version == version)
    query = query.order_by(ResourceRow.id)
    return list(session.scalars(query))


def remove(session: Session, row: ResourceRow) -> None:
    session.execute(delete(ReferenceRow).where(ReferenceRow.source_arn == row.arn))
    session.delete(row)
    session.flush()


def next_build(session: Session, version_arn: str) -> int:
    """The next build number of a version ARN; numbers are never reused."""
    counter = session.get(BuildCounterRow, version_arn, with_for_update=True)
    if counter is None:
        counter = BuildCounterRow(version_arn=version_arn, last_build=0)
        session.add(counter)
    counter.last_build += 1
    session.flush()
    return counter.last_build


def add_reference(session: Session, scope: Scope, *, source_arn: str, target_arn: str) -> None:
    session.add(
        ReferenceRow(
            account=scope.account,
            region=scope.region,
            source_arn=source_arn,
            target_arn=target_arn,
        )
    )


def replace_references(
    session: Session, scope: Scope, *, source_arn: str, target_arns: Iterable[str]
) -> None:
    """Make `source_arn` use exactly `target_arns`."""
    session.execute(delete(ReferenceRow).where(ReferenceRow.source_arn == source_arn))
    for target in target_arns:
        add_reference(session, scope, source_arn=source_arn, target_arn=target)


def referrers(session: Session, target_arn: str) -> list[str]:
    """ARNs of the resources that use target_arn."""
    query = select(ReferenceRow.source_arn).where(ReferenceRow.target_arn == target_arn)
    return sorted(set(session.scalars(query)))


def count(session: Session, *, resource_type: str, account: str) -> int:
    query = select(func.count()).where(
        ResourceRow.resource_type == resource_type, ResourceRow.account == account
    )
    return int(session.scalar(query) or 0)


def client_token(
    session: Session, scope: Scope, *, operation: str, token: str
) -> ClientTokenRow | None:
    query = select(ClientTokenRow).where(
        ClientTokenRow.account == scope.account,
        ClientTokenRow.region == scope.region,
        ClientTokenRow.operation == operation,
        ClientTokenRow.token == token,
    )
    return session.scalars(query).first()


def remember_client_token(
    session: Session,
    scope: Scope,
    *,
    operation: str,
    token: str,
    digest: str,
    response: dict[str, Any],
    now: dt.datetime,
) -> None:
    session.add(
        ClientTokenRow(
            account=scope.account,
            region=scope.region,
            operation=operation,
            token=token,
            digest=digest,
            response=response,
            created_at=now,
        )
    )
    session.flush()
