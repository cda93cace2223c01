"""IAM and STS outputs and errors through the query protocol, read back by botocore the way a
boto3 client reads them (including botocore's unquoting of policy documents)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.handlers import json_decode_policies
from botocore.parsers import create_parser
from test_iam_support import ACCOUNT, EC2_TRUST, World, allow, document, trust

from kiln.core.errors import ServiceError
from kiln.protocol.model import service_model
from kiln.protocol.query import QueryProtocol
from kiln.services.dispatch import Operation
from kiln.services.iam import (
    inline,
    instance_profiles,
    keys,
    policies,
    policy_versions,
    roles,
    simulate,
    users,
)
from kiln.services.sts import sessions

PRETTY = json.dumps(json.loads(document(allow("imagebuilder:Get*"))), indent=4)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def through_the_wire(world: World, service: str, fn: Operation, params: dict[str, Any]) -> Any:
    protocol = QueryProtocol(service_model(service))
    operation = protocol.model.operation_model(_op_name(fn))
    try:
        output = world.call(fn, params)
    except ServiceError as error:
        response = protocol.serialize_error(error, operation=operation, request_id="rid")
    else:
        response = protocol.serialize(operation, output, request_id="rid")
    raw = {"status_code": response.status, "headers": dict(response.headers), "body": response.body}
    parsed: dict[str, Any] = create_parser("query").parse(raw, operation.output_shape)
    if response.status == 200 and service == "iam":
        json_decode_policies(parsed, operation)
    parsed["status"] = response.status
    return parsed


def _op_name(fn: Operation) -> str:
    return "".join(part.capitalize() for part in fn.__name__.split("_"))


def test_policy_documents_arrive_as_dicts(world: World) -> None:
    role = through_the_wire(
        world, "iam", roles.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": EC2_TRUST}
    )["Role"]
    assert role["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/r"
    got = through_the_wire(world, "iam", roles.get_role, {"RoleName": "r"})["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)
    listed = through_the_wire(world, "iam", roles.list_roles, {})
    assert listed["Roles"][0]["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)
    assert listed["IsTruncated"] is False

    world.call(
        inline.put_role_policy, {"RoleName": "r", "PolicyName": "p", "PolicyDocument": PRETTY}
    )
    inline_doc = through_the_wire(
        world, "iam", inline.get_role_policy, {"RoleName": "r", "PolicyName": "p"}
    )
    assert inline_doc["PolicyDocument"] == json.loads(PRETTY)

    arn = world.call(policies.create_policy, {"PolicyName": "p", "PolicyDocument": PRETTY})[
        "Policy"
    ]["Arn"]
    version = through_the_wire(
        world, "iam", policy_versions.get_policy_version, {"PolicyArn": arn, "VersionId": "v1"}
    )["PolicyVersion"]
    assert version["Document"] == json.loads(PRETTY) and version["IsDefaultVersion"] is True

    world.call(instance_profiles.create_instance_profile, {"InstanceProfileName": "ip"})
    world.call(
        instance_profiles.add_role_to_instance_profile,
        {"InstanceProfileName": "ip", "RoleName": "r"},
    )
    profile = through_the_wire(
        world, "iam", instance_profiles.get_instance_profile, {"InstanceProfileName": "ip"}
    )["InstanceProfile"]
    assert profile["Roles"][0]["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)


def test_keys_users_and_simulation_parse(world: World) -> None:
    user = through_the_wire(world, "iam", users.create_user, {"UserName": "u"})["User"]
    key = through_the_wire(world, "iam", keys.create_access_key, {"UserName": "u"})["AccessKey"]
    assert key["UserName"] == "u" and len(key["SecretAccessKey"]) == 40
    assert user["CreateDate"].year == 2026
    result = through_the_wire(
        world,
        "iam",
        simulate.simulate_principal_policy,
        {"PolicySourceArn": world.admin.arn, "ActionNames": ["iam:CreateRole"]},
    )["EvaluationResults"][0]
    assert result["EvalDecision"] == "allowed"
    assert result["MatchedStatements"][0]["SourcePolicyId"] == "AdministratorAccess"


@pytest.mark.parametrize(
    ("fn", "params", "code", "status"),
    [
        (users.get_user, {"UserName": "nobody"}, "NoSuchEntity", 404),
        (users.create_user, {"UserName": "kiln-admin"}, "EntityAlreadyExists", 409),
        (users.delete_user, {"UserName": "kiln-admin"}, "DeleteConflict", 409),
        (
            roles.create_role,
            {"RoleName": "x", "AssumeRolePolicyDocument": "{"},
            "MalformedPolicyDocument",
            400,
        ),
        (policies.get_policy, {"PolicyArn": "nope"}, "InvalidInput", 400),
        (users.list_users, {"Marker": "bad"}, "ValidationError", 400),
    ],
)
def test_iam_errors_on_the_wire(
    world: World, fn: Operation, params: dict[str, Any], code: str, status: int
) -> None:
    parsed = through_the_wire(world, "iam", fn, params)
    assert (parsed["Error"]["Code"], parsed["status"]) == (code, status)


def test_key_quota_on_the_wire(world: World) -> None:
    world.call(keys.create_access_key, {"UserName": "kiln-admin"})
    parsed = through_the_wire(world, "iam", keys.create_access_key, {"UserName": "kiln-admin"})
    assert (parsed["Error"]["Code"], parsed["status"]) == ("LimitExceeded", 409)


def test_sts_on_the_wire(world: World) -> None:
    arn = world.call(
        roles.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": trust({"AWS": ACCOUNT})}
    )["Role"]["Arn"]
    out = through_the_wire(
        world, "sts", sessions.assume_role, {"RoleArn": arn, "RoleSessionName": "s"}
    )
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s"
    me = through_the_wire(world, "sts", sessions.get_caller_identity, {})
    assert me["Account"] == ACCOUNT and me["Arn"] == world.admin.arn
    denied = through_the_wire(
        world,
        "sts",
        sessions.assume_role,
        {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/none", "RoleSessionName": "s"},
    )
    assert (denied["Error"]["Code"], denied["status"]) == ("AccessDenied", 403)


REQUIRED_IAM = {
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "TagUser",
    "UntagUser",
    "ListUserTags",
    "CreateAccessKey",
    "ListAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "UpdateRole",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "CreateInstanceProfile",
    "GetInstanceProfile",
    "ListInstanceProfiles",
    "DeleteInstanceProfile",
    "AddRoleToInstanceProfile",
    "RemoveRoleFromInstanceProfile",
    "ListInstanceProfilesForRole",
    "CreatePolicy",
    "GetPolicy",
    "ListPolicies",
    "DeletePolicy",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "ListEntitiesForPolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedUserPolicies",
    "ListAttachedRolePolicies",
    "PutUserPolicy",
    "GetUserPolicy",
    "DeleteUserPolicy",
    "ListUserPolicies",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "ListRolePolicies",
    "CreateServiceLinkedRole",
    "DeleteServiceLinkedRole",
    "GetServiceLinkedRoleDeletionStatus",
    "SimulatePrincipalPolicy",
}


@pytest.mark.parametrize(
    ("service", "required"),
    [("iam", REQUIRED_IAM), ("sts", {"AssumeRole", "GetCallerIdentity"})],
)
def test_registries_cover_the_model(service: str, required: set[str]) -> None:
    import kiln.services.iam
    import kiln.services.sts

    registry = {"iam": kiln.services.iam, "sts": kiln.services.sts}[service].registry()
    names = set(service_model(service).operation_names)
    assert required <= set(registry.operations)
    assert set(registry.operations) <= names
    for name in names - set(registry.operations):
        assert "Kiln" in registry.planned[name]


def test_account_summary(world: World) -> None:
    from kiln.services.iam import account

    world.call(roles.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": EC2_TRUST})
    summary = through_the_wire(world, "iam", account.get_account_summary, {})["SummaryMap"]
    assert summary["Users"] == 1 and summary["Roles"] == 1 and summary["Policies"] == 0
    assert summary["AccessKeysPerUserQuota"] == 2 and summary["AccountAccessKeysPresent"] == 0
