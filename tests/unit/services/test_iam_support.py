"""A Kiln IAM world for the IAM and STS unit tests: a real SQLite database, a secrets box, two
accounts with an administrator each, and `call` to run one operation in one transaction as the
server does (an error rolls the transaction back)."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from kiln.auth.secretbox import SecretBox
from kiln.core.errors import ServiceError
from kiln.core.pagination import PageTokens
from kiln.iam import Principal
from kiln.services.context import Caller, RequestContext
from kiln.services.dispatch import Operation
from kiln.services.iam.bootstrap import ensure_administrator
from kiln.services.iam.identity import principal_for
from kiln.store import iam as store
from kiln.store.database import Database
from kiln.store.schema import AccountRow

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)

EC2_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def trust(principal: dict[str, Any] | str, **condition: Any) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return document(statement)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.database = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
        self.database.migrate()
        self.box = SecretBox(os.urandom(32))
        self.tokens = PageTokens(os.urandom(32))
        self.now = NOW
        with self.database.transaction() as session:
            for account in (ACCOUNT, OTHER):
                session.add(AccountRow(account_id=account, name=account, created_at=NOW))
            session.flush()
            self.admin_keys = {
                account: ensure_administrator(session, self.box, account=account, now=NOW)
                for account in (ACCOUNT, OTHER)
            }
        self.admin = self.principal_of(self.admin_keys[ACCOUNT].access_key_id)  # type: ignore[union-attr]

    def principal_of(self, access_key_id: str) -> Principal:
        with self.database.transaction() as session:
            row = store.credential(session, access_key_id)
            assert row is not None
            return principal_for(session, row)

    def user(self, name: str, account: str = ACCOUNT) -> Principal:
        with self.database.transaction() as session:
            row = store.entity(session, account=account, kind=store.USER, name=name)
            assert row is not None
            return Principal.user(account, row.name, path=row.path, user_id=row.entity_id)

    def call(
        self, fn: Operation, params: dict[str, Any] | None = None, *, as_: Principal | None = None
    ) -> dict[str, Any]:
        principal = as_ or self.admin
        with self.database.transaction() as session:
            ctx = RequestContext(
                caller=Caller(principal.account_id, principal.arn, principal.type.value, principal),
                region=REGION,
                request_id=str(uuid.uuid4()),
                session=session,
                now=self.now,
                tokens=self.tokens,
                operation=fn.__name__,
                box=self.box,
            )
            return fn(ctx, dict(params or {}))

    def fails(
        self,
        fn: Operation,
        params: dict[str, Any] | None = None,
        *,
        code: str,
        as_: Principal | None = None,
    ) -> ServiceError:
        with pytest.raises(ServiceError) as caught:
            self.call(fn, params, as_=as_)
        assert caught.value.code == code, caught.value
        return caught.value
