"""The Image Builder prerequisites set up as the user guide does it, then simulated.

UG "Set up Image Builder": a role EC2 may assume, with EC2InstanceProfileForImageBuilder and
AmazonSSMManagedInstanceCore attached, in an instance profile of the same name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_iam_support import ACCOUNT, EC2_TRUST, World, allow, document

from kiln.services.iam import attachments, inline, instance_profiles, roles, simulate, users

ROLE = "EC2InstanceProfileForImageBuilder"
IB_POLICY = "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilder"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
LOG_BUCKET = "arn:aws:s3:::my-imagebuilder-logs/*"


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.call(roles.create_role, {"RoleName": ROLE, "AssumeRolePolicyDocument": EC2_TRUST})
    for arn in (IB_POLICY, SSM_CORE):
        w.call(attachments.attach_role_policy, {"RoleName": ROLE, "PolicyArn": arn})
    w.call(instance_profiles.create_instance_profile, {"InstanceProfileName": ROLE})
    w.call(
        instance_profiles.add_role_to_instance_profile,
        {"InstanceProfileName": ROLE, "RoleName": ROLE},
    )
    return w


def decisions(world: World, **params: object) -> dict[tuple[str, str], dict[str, object]]:
    out = world.call(simulate.simulate_principal_policy, {"PolicySourceArn": ROLE_ARN, **params})
    assert out["IsTruncated"] is False
    return {(r["EvalActionName"], r["EvalResourceName"]): r for r in out["EvaluationResults"]}


def test_the_profile_is_set_up(world: World) -> None:
    profile = world.call(instance_profiles.get_instance_profile, {"InstanceProfileName": ROLE})
    assert [r["Arn"] for r in profile["InstanceProfile"]["Roles"]] == [ROLE_ARN]
    attached = world.call(attachments.list_attached_role_policies, {"RoleName": ROLE})
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [IB_POLICY, SSM_CORE]


def test_simulation_of_the_build_instance_role(world: World) -> None:
    results = decisions(
        world,
        ActionNames=["imagebuilder:GetComponent", "ssm:UpdateInstanceInformation"],
    )
    component = results[("imagebuilder:GetComponent", "*")]
    assert component["EvalDecision"] == "allowed"
    assert component["MatchedStatements"] == [
        {"SourcePolicyId": "EC2InstanceProfileForImageBuilder", "SourcePolicyType": "aws-managed"}
    ]
    ssm = results[("ssm:UpdateInstanceInformation", "*")]
    assert ssm["EvalDecision"] == "allowed"
    assert ssm["MatchedStatements"][0]["SourcePolicyId"] == "AmazonSSMManagedInstanceCore"
    logs = decisions(world, ActionNames=["s3:PutObject"], ResourceArns=[LOG_BUCKET])
    denied = logs[("s3:PutObject", LOG_BUCKET)]
    assert denied["EvalDecision"] == "implicitDeny" and denied["MatchedStatements"] == []


def test_context_entries_feed_conditions(world: World) -> None:
    iso = "arn:aws:s3:::media/disk.iso"
    params = {"ActionNames": ["s3:GetObject"], "ResourceArns": [iso]}
    assert decisions(world, **params)[("s3:GetObject", iso)]["EvalDecision"] == "implicitDeny"
    own = [
        {
            "ContextKeyName": "s3:ResourceAccount",
            "ContextKeyValues": [ACCOUNT],
            "ContextKeyType": "string",
        }
    ]
    assert (
        decisions(world, ContextEntries=own, **params)[("s3:GetObject", iso)]["EvalDecision"]
        == "allowed"
    )
    other = [
        {
            "ContextKeyName": "s3:ResourceAccount",
            "ContextKeyValues": ["999999999999"],
            "ContextKeyType": "string",
        }
    ]
    assert (
        decisions(world, ContextEntries=other, **params)[("s3:GetObject", iso)]["EvalDecision"]
        == "implicitDeny"
    )


def test_explicit_deny_and_policy_inputs(world: World) -> None:
    deny = document({"Effect": "Deny", "Action": "imagebuilder:*", "Resource": "*"})
    world.call(
        inline.put_role_policy,
        {"RoleName": ROLE, "PolicyName": "NoImageBuilder", "PolicyDocument": deny},
    )
    result = decisions(world, ActionNames=["imagebuilder:GetComponent"])[
        ("imagebuilder:GetComponent", "*")
    ]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"] == [
        {"SourcePolicyId": "NoImageBuilder", "SourcePolicyType": "role"}
    ]
    excluded = decisions(
        world, ActionNames=["imagebuilder:GetComponent"], PolicyExclusionList=["NoImageBuilder"]
    )
    assert excluded[("imagebuilder:GetComponent", "*")]["EvalDecision"] == "allowed"
    extra = decisions(
        world,
        ActionNames=["s3:PutObject"],
        ResourceArns=[LOG_BUCKET],
        PolicyInputList=[document(allow("s3:PutObject", LOG_BUCKET))],
    )
    assert extra[("s3:PutObject", LOG_BUCKET)]["MatchedStatements"] == [
        {"SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "none"}
    ]


def test_permissions_boundary_limits_a_user(world: World) -> None:
    world.call(users.create_user, {"UserName": "dev", "PermissionsBoundary": SSM_CORE})
    world.call(
        attachments.attach_user_policy,
        {"UserName": "dev", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    out = world.call(
        simulate.simulate_principal_policy,
        {
            "PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:user/dev",
            "ActionNames": ["ssm:GetDocument", "iam:CreateUser"],
        },
    )
    got = {r["EvalActionName"]: r["EvalDecision"] for r in out["EvaluationResults"]}
    assert got == {"ssm:GetDocument": "allowed", "iam:CreateUser": "implicitDeny"}


def test_simulating_an_unknown_principal(world: World) -> None:
    world.fails(
        simulate.simulate_principal_policy,
        {"PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:role/nope", "ActionNames": ["s3:GetObject"]},
        code="NoSuchEntity",
    )
    world.fails(
        simulate.simulate_principal_policy,
        {"PolicySourceArn": "garbage", "ActionNames": ["s3:GetObject"]},
        code="InvalidInput",
    )
