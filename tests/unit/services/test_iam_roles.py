"""IAM roles, instance profiles and the service-linked role."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from test_iam_support import ACCOUNT, EC2_TRUST, OTHER, World, allow, document, trust

from kiln.services.iam import (
    attachments,
    inline,
    instance_profiles,
    roles,
    service_linked,
    tags,
)

SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def make_role(world: World, name: str = "r", **extra: object) -> dict[str, object]:
    params = {"RoleName": name, "AssumeRolePolicyDocument": EC2_TRUST, **extra}
    return world.call(roles.create_role, params)["Role"]  # type: ignore[no-any-return]


def test_create_and_get_role(world: World) -> None:
    role = make_role(world, "Builder", Path="/ib/", Description="builds", MaxSessionDuration=7200)
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/ib/Builder"
    assert str(role["RoleId"]).startswith("AROA")
    assert unquote(str(role["AssumeRolePolicyDocument"])) == EC2_TRUST
    got = world.call(roles.get_role, {"RoleName": "builder"})["Role"]
    assert got["Description"] == "builds" and got["MaxSessionDuration"] == 7200
    assert got["RoleLastUsed"] == {}
    assert "%22Service%22%3A" in got["AssumeRolePolicyDocument"]


def test_trust_policy_is_validated(world: World) -> None:
    bad = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    )
    error = world.fails(
        roles.create_role,
        {"RoleName": "x", "AssumeRolePolicyDocument": bad},
        code="MalformedPolicyDocument",
    )
    assert error.message == "Missing required field Principal"
    s3 = document(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "s3:GetObject"}
    )
    error = world.fails(
        roles.create_role,
        {"RoleName": "x", "AssumeRolePolicyDocument": s3},
        code="MalformedPolicyDocument",
    )
    assert error.message == "AssumeRole policy may only specify STS AssumeRole actions."
    ghost = f"arn:aws:iam::{ACCOUNT}:user/ghost"
    error = world.fails(
        roles.create_role,
        {"RoleName": "x", "AssumeRolePolicyDocument": trust({"AWS": ghost})},
        code="MalformedPolicyDocument",
    )
    assert error.message == f'Invalid principal in policy: "AWS":"{ghost}"'
    world.fails(roles.get_role, {"RoleName": "x"}, code="NoSuchEntity")
    # accounts and existing principals are fine
    make_role(world, "cross", AssumeRolePolicyDocument=trust({"AWS": OTHER}))
    admin = f"arn:aws:iam::{ACCOUNT}:user/kiln-admin"
    make_role(world, "direct", AssumeRolePolicyDocument=trust({"AWS": admin}))


def test_list_roles_path_prefix(world: World) -> None:
    make_role(world, "a", Path="/ib/")
    make_role(world, "b")
    assert [
        r["RoleName"] for r in world.call(roles.list_roles, {"PathPrefix": "/ib/"})["Roles"]
    ] == ["a"]
    assert [r["RoleName"] for r in world.call(roles.list_roles)["Roles"]] == ["a", "b"]


def test_update_role_and_trust(world: World) -> None:
    make_role(world)
    world.call(
        roles.update_role, {"RoleName": "r", "Description": "d", "MaxSessionDuration": 43200}
    )
    got = world.call(roles.get_role, {"RoleName": "r"})["Role"]
    assert (got["Description"], got["MaxSessionDuration"]) == ("d", 43200)
    new = trust({"Service": "imagebuilder.amazonaws.com"})
    world.call(roles.update_assume_role_policy, {"RoleName": "r", "PolicyDocument": new})
    got = world.call(roles.get_role, {"RoleName": "r"})["Role"]
    assert unquote(got["AssumeRolePolicyDocument"]) == new
    world.fails(
        roles.update_assume_role_policy,
        {"RoleName": "r", "PolicyDocument": "{not json"},
        code="MalformedPolicyDocument",
    )


def test_role_tags(world: World) -> None:
    make_role(world, Tags=[{"Key": "a", "Value": "1"}])
    world.call(tags.tag_role, {"RoleName": "r", "Tags": [{"Key": "b", "Value": "2"}]})
    world.call(tags.untag_role, {"RoleName": "r", "TagKeys": ["a"]})
    assert world.call(tags.list_role_tags, {"RoleName": "r"})["Tags"] == [
        {"Key": "b", "Value": "2"}
    ]
    assert world.call(roles.get_role, {"RoleName": "r"})["Role"]["Tags"] == [
        {"Key": "b", "Value": "2"}
    ]


def test_delete_role_conflicts(world: World) -> None:
    make_role(world)
    world.call(attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": SSM_CORE})
    world.call(
        inline.put_role_policy,
        {"RoleName": "r", "PolicyName": "p", "PolicyDocument": document(allow("s3:*"))},
    )
    world.call(instance_profiles.create_instance_profile, {"InstanceProfileName": "ip"})
    world.call(
        instance_profiles.add_role_to_instance_profile,
        {"InstanceProfileName": "ip", "RoleName": "r"},
    )
    error = world.fails(roles.delete_role, {"RoleName": "r"}, code="DeleteConflict")
    assert error.message == "Cannot delete entity, must detach all policies first."
    world.call(attachments.detach_role_policy, {"RoleName": "r", "PolicyArn": SSM_CORE})
    error = world.fails(roles.delete_role, {"RoleName": "r"}, code="DeleteConflict")
    assert error.message == "Cannot delete entity, must delete policies first."
    world.call(inline.delete_role_policy, {"RoleName": "r", "PolicyName": "p"})
    error = world.fails(roles.delete_role, {"RoleName": "r"}, code="DeleteConflict")
    assert error.message == "Cannot delete entity, must remove roles from instance profile first."
    error = world.fails(
        instance_profiles.delete_instance_profile,
        {"InstanceProfileName": "ip"},
        code="DeleteConflict",
    )
    world.call(
        instance_profiles.remove_role_from_instance_profile,
        {"InstanceProfileName": "ip", "RoleName": "r"},
    )
    world.call(roles.delete_role, {"RoleName": "r"})
    world.call(instance_profiles.delete_instance_profile, {"InstanceProfileName": "ip"})
    world.fails(roles.get_role, {"RoleName": "r"}, code="NoSuchEntity")


def test_instance_profiles(world: World) -> None:
    make_role(world, "one")
    make_role(world, "two")
    created = world.call(
        instance_profiles.create_instance_profile,
        {"InstanceProfileName": "ip", "Path": "/ib/", "Tags": [{"Key": "k", "Value": "v"}]},
    )["InstanceProfile"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/ib/ip"
    assert created["InstanceProfileId"].startswith("AIPA") and created["Roles"] == []
    world.fails(
        instance_profiles.create_instance_profile,
        {"InstanceProfileName": "IP"},
        code="EntityAlreadyExists",
    )
    add = instance_profiles.add_role_to_instance_profile
    world.call(add, {"InstanceProfileName": "ip", "RoleName": "one"})
    error = world.fails(add, {"InstanceProfileName": "ip", "RoleName": "two"}, code="LimitExceeded")
    assert error.message == "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"
    world.fails(add, {"InstanceProfileName": "ip", "RoleName": "nope"}, code="NoSuchEntity")
    world.fails(add, {"InstanceProfileName": "nope", "RoleName": "one"}, code="NoSuchEntity")
    got = world.call(instance_profiles.get_instance_profile, {"InstanceProfileName": "ip"})
    embedded = got["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in embedded] == ["one"]
    assert unquote(embedded[0]["AssumeRolePolicyDocument"]) == EC2_TRUST
    assert got["InstanceProfile"]["Tags"] == [{"Key": "k", "Value": "v"}]
    for_role = world.call(instance_profiles.list_instance_profiles_for_role, {"RoleName": "one"})
    assert [p["InstanceProfileName"] for p in for_role["InstanceProfiles"]] == ["ip"]
    assert (
        world.call(instance_profiles.list_instance_profiles_for_role, {"RoleName": "two"})[
            "InstanceProfiles"
        ]
        == []
    )
    listed = world.call(instance_profiles.list_instance_profiles, {"PathPrefix": "/ib"})
    assert [p["InstanceProfileName"] for p in listed["InstanceProfiles"]] == ["ip"]
    world.fails(
        instance_profiles.remove_role_from_instance_profile,
        {"InstanceProfileName": "ip", "RoleName": "two"},
        code="NoSuchEntity",
    )


def test_service_linked_role(world: World) -> None:
    create = service_linked.create_service_linked_role
    role = world.call(create, {"AWSServiceName": "imagebuilder.amazonaws.com"})["Role"]
    assert role["RoleName"] == "AWSServiceRoleForImageBuilder"
    assert role["Path"] == "/aws-service-role/imagebuilder.amazonaws.com/"
    attached = world.call(
        attachments.list_attached_role_policies, {"RoleName": "AWSServiceRoleForImageBuilder"}
    )["AttachedPolicies"]
    assert attached == [
        {
            "PolicyName": "AWSServiceRoleForImageBuilder",
            "PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/AWSServiceRoleForImageBuilder",
        }
    ]
    error = world.fails(
        create, {"AWSServiceName": "imagebuilder.amazonaws.com"}, code="InvalidInput"
    )
    assert error.message == (
        "Service role name AWSServiceRoleForImageBuilder has been taken in this account, "
        "please try a different suffix."
    )
    world.fails(create, {"AWSServiceName": "elasticbeanstalk.amazonaws.com"}, code="InvalidInput")
    # only its service changes it
    slr = {"RoleName": "AWSServiceRoleForImageBuilder"}
    world.fails(roles.delete_role, slr, code="UnmodifiableEntity")
    world.fails(
        attachments.attach_role_policy, {**slr, "PolicyArn": SSM_CORE}, code="UnmodifiableEntity"
    )
    task = world.call(service_linked.delete_service_linked_role, slr)["DeletionTaskId"]
    assert task.startswith(
        "task/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder/"
    )
    world.fails(roles.get_role, slr, code="NoSuchEntity")
    status = world.call(
        service_linked.get_service_linked_role_deletion_status, {"DeletionTaskId": task}
    )
    assert status["Status"] == "SUCCEEDED"
    world.fails(
        service_linked.get_service_linked_role_deletion_status,
        {"DeletionTaskId": task + "x"},
        code="NoSuchEntity",
    )
    # it can be created again afterwards
    world.call(create, {"AWSServiceName": "imagebuilder.amazonaws.com"})


def test_delete_service_linked_role_refuses_ordinary_roles(world: World) -> None:
    make_role(world)
    world.fails(service_linked.delete_service_linked_role, {"RoleName": "r"}, code="InvalidInput")
