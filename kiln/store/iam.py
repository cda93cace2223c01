"""Repository functions over IAM entities and credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.store.schema import CredentialRow, IamEntityRow

USER = "user"
ROLE = "role"
POLICY = "policy"
INSTANCE_PROFILE = "instance-profile"


def add_entity(
    session: Session,
    *,
    account: str,
    kind: str,
    name: str,
    entity_id: str,
    path: str,
    arn: str,
    body: dict[str, Any],
    now: dt.datetime,
) -> IamEntityRow:
    row = IamEntityRow(
        account=account,
        kind=kind,
        name=name,
        name_key=name.lower(),
        entity_id=entity_id,
        path=path,
        arn=arn,
        created_at=now,
        body=body,
    )
    session.add(row)
    session.flush()
    return row


def entity(session: Session, *, account: str, kind: str, name: str) -> IamEntityRow | None:
    query = select(IamEntityRow).where(
        IamEntityRow.account == account,
        IamEntityRow.kind == kind,
        IamEntityRow.name_key == name.lower(),
    )
    return session.scalars(query).first()


def entity_by_arn(session: Session, arn: str) -> IamEntityRow | None:
    return session.scalars(select(IamEntityRow).where(IamEntityRow.arn == arn)).first()


def entities(
    session: Session, *, account: str, kind: str, path_prefix: str = "/"
) -> list[IamEntityRow]:
    query = (
        select(IamEntityRow)
        .where(IamEntityRow.account == account, IamEntityRow.kind == kind)
        .order_by(IamEntityRow.name_key)
    )
    return [row for row in session.scalars(query) if row.path.startswith(path_prefix)]


def remove_entity(session: Session, row: IamEntityRow) -> None:
    session.delete(row)
    session.flush()


def add_credential(session: Session, row: CredentialRow) -> CredentialRow:
    session.add(row)
    session.flush()
    return row


def credential(session: Session, access_key_id: str) -> CredentialRow | None:
    return session.get(CredentialRow, access_key_id)


def user_credentials(session: Session, *, account: str, user_name: str) -> list[CredentialRow]:
    query = (
        select(CredentialRow)
        .where(
            CredentialRow.account == account,
            CredentialRow.kind == "user",
            CredentialRow.user_name == user_name,
        )
        .order_by(CredentialRow.created_at)
    )
    return list(session.scalars(query))


def remove_credential(session: Session, row: CredentialRow) -> None:
    session.delete(row)
    session.flush()
