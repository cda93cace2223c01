"""STS: GetCallerIdentity and AssumeRole (trust, identity policies, cross-account, durations)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from test_iam_support import ACCOUNT, NOW, OTHER, World, document, trust

from kiln.iam import Principal, PrincipalType
from kiln.services.iam import inline, roles, users
from kiln.services.iam.identity import identity_policies, session_token_matches, usable
from kiln.services.sts import sessions
from kiln.store import iam as store


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def role_in(world: World, account: str, name: str, policy: str, **extra: Any) -> str:
    admin = world.principal_of(world.admin_keys[account].access_key_id)  # type: ignore[union-attr]
    params = {"RoleName": name, "AssumeRolePolicyDocument": policy, **extra}
    return str(world.call(roles.create_role, params, as_=admin)["Role"]["Arn"])


def assume(world: World, arn: str, *, as_: Principal | None = None, **extra: Any) -> dict[str, Any]:
    return world.call(
        sessions.assume_role, {"RoleArn": arn, "RoleSessionName": "s1", **extra}, as_=as_
    )


def plain_user(world: World, name: str = "dev") -> Principal:
    world.call(users.create_user, {"UserName": name})
    return world.user(name)


def test_get_caller_identity(world: World) -> None:
    me = world.call(sessions.get_caller_identity)
    assert me == {"UserId": world.admin.user_id, "Account": ACCOUNT, "Arn": world.admin.arn}
    assert str(me["UserId"]).startswith("AIDA")
    root = world.call(sessions.get_caller_identity, as_=Principal.root(ACCOUNT))
    assert root == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}


def test_assume_a_trusted_role(world: World) -> None:
    arn = role_in(world, ACCOUNT, "deploy", trust({"AWS": ACCOUNT}))
    out = assume(world, arn, DurationSeconds=900)
    creds, user = out["Credentials"], out["AssumedRoleUser"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["SecretAccessKey"]) == 40
    assert creds["Expiration"] == NOW + dt.timedelta(seconds=900)
    assert user["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/s1"
    role_id = world.call(roles.get_role, {"RoleName": "deploy"})["Role"]["RoleId"]
    assert user["AssumedRoleId"] == f"{role_id}:s1"
    with world.database.transaction() as session:
        row = store.credential(session, creds["AccessKeyId"])
        assert row is not None and row.kind == "session" and row.role_arn == arn
        assert creds["SecretAccessKey"] not in row.secret_encrypted
        assert world.box.open(row.secret_encrypted) == creds["SecretAccessKey"]
        assert creds["SessionToken"] not in str(row.session_token_sha256)
        assert session_token_matches(row, creds["SessionToken"])
        assert not session_token_matches(row, creds["SessionToken"] + "x")
        assert usable(row, NOW) and not usable(row, NOW + dt.timedelta(seconds=901))
    session_principal = world.principal_of(creds["AccessKeyId"])
    assert session_principal.type is PrincipalType.ASSUMED_ROLE
    assert session_principal.arn == user["Arn"]
    me = world.call(sessions.get_caller_identity, as_=session_principal)
    assert me["Arn"] == user["Arn"] and me["UserId"] == user["AssumedRoleId"]
    last_used = world.call(roles.get_role, {"RoleName": "deploy"})["Role"]["RoleLastUsed"]
    assert last_used == {"LastUsedDate": NOW, "Region": "us-east-1"}


def test_the_session_acts_with_the_role_policies(world: World) -> None:
    arn = role_in(world, ACCOUNT, "deploy", trust({"AWS": ACCOUNT}))
    policy = document({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    world.call(
        inline.put_role_policy, {"RoleName": "deploy", "PolicyName": "s3", "PolicyDocument": policy}
    )
    creds = assume(world, arn)["Credentials"]
    principal = world.principal_of(creds["AccessKeyId"])
    with world.database.transaction() as session:
        assert [p.name for p in identity_policies(session, principal)] == ["s3"]


def test_untrusted_callers_are_denied(world: World) -> None:
    arn = role_in(world, ACCOUNT, "ec2only", trust({"Service": "ec2.amazonaws.com"}))
    error = world.fails(
        sessions.assume_role, {"RoleArn": arn, "RoleSessionName": "s"}, code="AccessDenied"
    )
    assert error.status == 403
    assert error.message == (
        f"User: {world.admin.arn} is not authorized to perform: sts:AssumeRole on resource: {arn}"
    )
    missing = f"arn:aws:iam::{ACCOUNT}:role/missing"
    error = world.fails(
        sessions.assume_role, {"RoleArn": missing, "RoleSessionName": "s"}, code="AccessDenied"
    )
    assert missing in error.message


def test_account_trust_needs_an_identity_policy(world: World) -> None:
    arn = role_in(world, ACCOUNT, "deploy", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    dev = plain_user(world)
    world.fails(
        sessions.assume_role, {"RoleArn": arn, "RoleSessionName": "s"}, as_=dev, code="AccessDenied"
    )
    grant = document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn})
    world.call(
        inline.put_user_policy, {"UserName": "dev", "PolicyName": "a", "PolicyDocument": grant}
    )
    assert assume(world, arn, as_=dev)["AssumedRoleUser"]["Arn"].endswith("/deploy/s1")


def test_naming_the_user_in_the_trust_policy_is_enough(world: World) -> None:
    dev = plain_user(world)
    arn = role_in(world, ACCOUNT, "direct", trust({"AWS": dev.arn}))
    assert assume(world, arn, as_=dev)["Credentials"]["AccessKeyId"].startswith("ASIA")
    other = plain_user(world, "other")
    world.fails(
        sessions.assume_role,
        {"RoleArn": arn, "RoleSessionName": "s"},
        as_=other,
        code="AccessDenied",
    )
    deny = document({"Effect": "Deny", "Action": "sts:*", "Resource": "*"})
    world.call(
        inline.put_user_policy, {"UserName": "dev", "PolicyName": "d", "PolicyDocument": deny}
    )
    world.fails(
        sessions.assume_role, {"RoleArn": arn, "RoleSessionName": "s"}, as_=dev, code="AccessDenied"
    )


def test_cross_account(world: World) -> None:
    trusted = role_in(world, OTHER, "Distribution", trust({"AWS": ACCOUNT}))
    out = assume(world, trusted)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{OTHER}:assumed-role/Distribution/s1"
    session = world.principal_of(out["Credentials"]["AccessKeyId"])
    assert session.account_id == OTHER
    # the other account's role must trust this account
    closed = role_in(world, OTHER, "Closed", trust({"AWS": OTHER}))
    world.fails(
        sessions.assume_role, {"RoleArn": closed, "RoleSessionName": "s"}, code="AccessDenied"
    )
    # and this account's identity policies must allow it, even when the user is named
    dev = plain_user(world)
    named = role_in(world, OTHER, "Named", trust({"AWS": dev.arn}))
    world.fails(
        sessions.assume_role,
        {"RoleArn": named, "RoleSessionName": "s"},
        as_=dev,
        code="AccessDenied",
    )


def test_external_id_condition(world: World) -> None:
    policy = trust({"AWS": ACCOUNT}, StringEquals={"sts:ExternalId": "abc"})
    arn = role_in(world, ACCOUNT, "ext", policy)
    world.fails(sessions.assume_role, {"RoleArn": arn, "RoleSessionName": "s"}, code="AccessDenied")
    world.fails(
        sessions.assume_role,
        {"RoleArn": arn, "RoleSessionName": "s", "ExternalId": "xyz"},
        code="AccessDenied",
    )
    assert assume(world, arn, ExternalId="abc")["Credentials"]


def test_durations(world: World) -> None:
    arn = role_in(world, ACCOUNT, "short", trust({"AWS": ACCOUNT}))
    error = world.fails(
        sessions.assume_role,
        {"RoleArn": arn, "RoleSessionName": "s", "DurationSeconds": 3601},
        code="ValidationError",
    )
    assert "MaxSessionDuration" in error.message
    long = role_in(world, ACCOUNT, "long", trust({"AWS": ACCOUNT}), MaxSessionDuration=43200)
    creds = assume(world, long, DurationSeconds=43200)["Credentials"]
    assert creds["Expiration"] == NOW + dt.timedelta(hours=12)
    chained = world.principal_of(creds["AccessKeyId"])
    world.fails(
        sessions.assume_role,
        {"RoleArn": long, "RoleSessionName": "s"},
        as_=chained,
        code="AccessDenied",
    )  # the role's own policies do not allow sts:AssumeRole
    grant = document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": long})
    world.call(
        inline.put_role_policy, {"RoleName": "long", "PolicyName": "chain", "PolicyDocument": grant}
    )
    error = world.fails(
        sessions.assume_role,
        {"RoleArn": long, "RoleSessionName": "s", "DurationSeconds": 7200},
        as_=chained,
        code="ValidationError",
    )
    assert "role chaining" in error.message
    assert assume(world, long, as_=chained)["Credentials"]


def test_session_policies_are_refused_not_ignored(world: World) -> None:
    arn = role_in(world, ACCOUNT, "r", trust({"AWS": ACCOUNT}))
    error = world.fails(
        sessions.assume_role,
        {"RoleArn": arn, "RoleSessionName": "s", "Policy": document()},
        code="ValidationError",
    )
    assert "Policy" in error.message
