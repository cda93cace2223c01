"""The cross-account distribution check: role exists, trusts the source, may do what the
managed policy allows; each failure names the account, the role and what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiln.core.clock import utcnow
from kiln.engine.cross_account import (
    CROSS_ACCOUNT_ROLE,
    MANAGED_POLICY,
    check_target,
    distributing_principal,
)
from kiln.iam import managed_policy_arn
from kiln.services.iam.bootstrap import ensure_service_linked_role
from kiln.services.iam.entities import attach, create_role
from kiln.store.database import Database, sqlite_url

SOURCE, TARGET, OTHER = "111111111111", "222222222222", "333333333333"
REGION = "eu-west-1"
POLICY = managed_policy_arn(MANAGED_POLICY)


def _trust(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


@pytest.fixture
def database(tmp_path: Path):
    db = Database(sqlite_url(tmp_path))
    db.migrate()
    with db.transaction() as session:
        ensure_service_linked_role(session, account=SOURCE, now=utcnow())
    yield db
    db.dispose()


def _role(database: Database, *, trusts: str, policies: tuple[str, ...] = (POLICY,), inline=None):
    with database.transaction() as session:
        row = create_role(
            session, account=TARGET, name=CROSS_ACCOUNT_ROLE, trust_policy=_trust(trusts),
            now=utcnow(),
        )  # fmt: skip
        for arn in policies:
            attach(row, arn)
        if inline:
            row.body = {**row.body, "inlinePolicies": {"ec2": json.dumps(inline)}}


def _check(database: Database, execution_role: str | None = None):
    with database.transaction() as session:
        source = distributing_principal(session, account=SOURCE, execution_role=execution_role)
        return check_target(session, source=source, target_account=TARGET, region=REGION)


def test_a_trusting_role_with_the_managed_policy_passes(database: Database) -> None:
    _role(database, trusts=SOURCE)
    assert _check(database) is None


def test_a_missing_role_is_named_with_its_account(database: Database) -> None:
    denial = _check(database)
    assert denial is not None
    assert denial.account == TARGET
    assert f"arn:aws:iam::{TARGET}:role/{CROSS_ACCOUNT_ROLE}" in denial.message
    assert "does not exist" in denial.message
    assert f"account {TARGET}" in denial.message


def test_a_role_trusting_another_account_says_so(database: Database) -> None:
    _role(database, trusts=OTHER)
    denial = _check(database)
    assert denial is not None
    assert f"does not trust account {SOURCE}" in denial.message
    assert CROSS_ACCOUNT_ROLE in denial.message and TARGET in denial.message


def test_each_missing_permission_is_listed(database: Database) -> None:
    inline = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ec2:DescribeImages", "ec2:CopyImage"], "Resource": "*"}
        ],
    }
    _role(database, trusts=SOURCE, policies=(), inline=inline)
    denial = _check(database)
    assert denial is not None
    assert "ec2:CreateTags" in denial.missing and "ec2:ModifyImageAttribute" in denial.missing
    assert "ec2:CopyImage" not in denial.missing and "ec2:DescribeImages" not in denial.missing
    assert MANAGED_POLICY in denial.message


def test_an_explicit_deny_removes_a_permission(database: Database) -> None:
    inline = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "ec2:CopyImage", "Resource": "*"}],
    }
    _role(database, trusts=SOURCE, inline=inline)
    denial = _check(database)
    assert denial is not None and "ec2:CopyImage" in denial.missing


def test_an_execution_role_without_assume_role_cannot_reach_the_target(
    database: Database,
) -> None:
    _role(database, trusts=SOURCE)
    with database.transaction() as session:
        create_role(
            session, account=SOURCE, name="distributor", trust_policy=_trust(SOURCE),
            now=utcnow(),
        )  # fmt: skip
    denial = _check(database, execution_role=f"arn:aws:iam::{SOURCE}:role/distributor")
    assert denial is not None
    assert "sts:AssumeRole" in denial.message and "distributor" in denial.message
    with database.transaction() as session:
        from kiln.store import iam as iam_store

        row = iam_store.entity(session, account=SOURCE, kind=iam_store.ROLE, name="distributor")
        assert row is not None
        attach(row, managed_policy_arn("AWSServiceRoleForImageBuilder", path="/aws-service-role/"))
    assert _check(database, execution_role="distributor") is None
