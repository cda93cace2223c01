"""Permissions boundaries: set, removed, and applied by simulation, AssumeRole and the lookup the
authorizer uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_iam_support import ACCOUNT, World, allow, document, trust

from kiln.services.iam import attachments, boundaries, inline, roles, simulate, users
from kiln.services.sts import sessions

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
IB_READ = "arn:aws:iam::aws:policy/AWSImageBuilderReadOnlyAccess"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def decide(world: World, source: str, action: str) -> str:
    out = world.call(
        simulate.simulate_principal_policy, {"PolicySourceArn": source, "ActionNames": [action]}
    )
    return str(out["EvaluationResults"][0]["EvalDecision"])


def test_user_boundary_put_and_delete(world: World) -> None:
    world.call(users.create_user, {"UserName": "dev"})
    world.call(attachments.attach_user_policy, {"UserName": "dev", "PolicyArn": ADMIN})
    arn = f"arn:aws:iam::{ACCOUNT}:user/dev"
    assert decide(world, arn, "iam:CreateUser") == "allowed"
    world.call(
        boundaries.put_user_permissions_boundary,
        {"UserName": "dev", "PermissionsBoundary": IB_READ},
    )
    user = world.call(users.get_user, {"UserName": "dev"})["User"]
    assert user["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": IB_READ,
    }
    assert decide(world, arn, "iam:CreateUser") == "implicitDeny"
    assert decide(world, arn, "imagebuilder:GetImage") == "allowed"
    with world.database.transaction() as session:
        assert boundaries.principal_boundary(session, world.user("dev")) is not None
        assert boundaries.principal_boundary(session, world.admin) is None
    world.call(boundaries.delete_user_permissions_boundary, {"UserName": "dev"})
    assert decide(world, arn, "iam:CreateUser") == "allowed"
    world.fails(
        boundaries.delete_user_permissions_boundary, {"UserName": "dev"}, code="NoSuchEntity"
    )
    world.fails(
        boundaries.put_user_permissions_boundary,
        {"UserName": "dev", "PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/none"},
        code="NoSuchEntity",
    )


def test_role_boundary_limits_assume_role(world: World) -> None:
    target = world.call(
        roles.create_role,
        {"RoleName": "target", "AssumeRolePolicyDocument": trust({"AWS": ACCOUNT})},
    )["Role"]["Arn"]
    world.call(users.create_user, {"UserName": "dev", "PermissionsBoundary": IB_READ})
    grant = document(allow("sts:AssumeRole", target))
    world.call(
        inline.put_user_policy, {"UserName": "dev", "PolicyName": "a", "PolicyDocument": grant}
    )
    dev = world.user("dev")
    world.fails(
        sessions.assume_role,
        {"RoleArn": target, "RoleSessionName": "s1"},
        as_=dev,
        code="AccessDenied",
    )
    world.call(boundaries.delete_user_permissions_boundary, {"UserName": "dev"})
    assert world.call(sessions.assume_role, {"RoleArn": target, "RoleSessionName": "s1"}, as_=dev)


def test_role_created_with_a_boundary(world: World) -> None:
    role = world.call(
        roles.create_role,
        {
            "RoleName": "r",
            "AssumeRolePolicyDocument": trust({"AWS": ACCOUNT}),
            "PermissionsBoundary": IB_READ,
        },
    )["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == IB_READ
    world.call(boundaries.delete_role_permissions_boundary, {"RoleName": "r"})
    assert "PermissionsBoundary" not in {
        k for k, v in world.call(roles.get_role, {"RoleName": "r"})["Role"].items() if v
    }
