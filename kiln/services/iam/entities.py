"""Creating IAM entities and keys: shared by the IAM operations and by Kiln's own bootstrap
(the first administrator, the Image Builder service-linked role)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from kiln.auth.secretbox import SecretBox
from kiln.core.arn import PARTITION, Arn
from kiln.services.iam import ids
from kiln.store import iam as store
from kiln.store.schema import CredentialRow, IamEntityRow


def iam_arn(account: str, kind: str, path: str, name: str) -> str:
    return str(Arn(PARTITION, "iam", "", account, f"{kind}{path}{name}"))


def create_user(
    session: Session,
    *,
    account: str,
    name: str,
    now: dt.datetime,
    path: str = "/",
    tags: list[dict[str, str]] | None = None,
    permissions_boundary: str | None = None,
) -> IamEntityRow:
    body: dict[str, Any] = {"tags": tags or [], "attachedPolicies": [], "inlinePolicies": {}}
    if permissions_boundary:
        body["permissionsBoundary"] = permissions_boundary
    return store.add_entity(
        session,
        account=account,
        kind=store.USER,
        name=name,
        entity_id=ids.unique_id(ids.USER_PREFIX),
        path=path,
        arn=iam_arn(account, "user", path, name),
        body=body,
        now=now,
    )


def create_role(
    session: Session,
    *,
    account: str,
    name: str,
    trust_policy: str,
    now: dt.datetime,
    path: str = "/",
    description: str | None = None,
    max_session_duration: int = 3600,
    tags: list[dict[str, str]] | None = None,
    service_name: str | None = None,
) -> IamEntityRow:
    body: dict[str, Any] = {
        "assumeRolePolicyDocument": trust_policy,
        "maxSessionDuration": max_session_duration,
        "tags": tags or [],
        "attachedPolicies": [],
        "inlinePolicies": {},
    }
    if description:
        body["description"] = description
    if service_name:
        body["awsServiceName"] = service_name
    return store.add_entity(
        session,
        account=account,
        kind=store.ROLE,
        name=name,
        entity_id=ids.unique_id(ids.ROLE_PREFIX),
        path=path,
        arn=iam_arn(account, "role", path, name),
        body=body,
        now=now,
    )


def attach(row: IamEntityRow, policy_arn: str) -> None:
    attached = list(row.body.get("attachedPolicies", []))
    if policy_arn not in attached:
        attached.append(policy_arn)
    row.body = {**row.body, "attachedPolicies": attached}


def create_access_key(
    session: Session, box: SecretBox, *, account: str, user_name: str | None, now: dt.datetime
) -> tuple[CredentialRow, str]:
    """A long-term key for a user; returns the row and the secret (shown once)."""
    secret = ids.secret_access_key()
    row = store.add_credential(
        session,
        CredentialRow(
            access_key_id=ids.access_key_id(),
            account=account,
            kind="user",
            user_name=user_name,
            secret_encrypted=box.seal(secret),
            status="Active",
            created_at=now,
        ),
    )
    return row, secret
