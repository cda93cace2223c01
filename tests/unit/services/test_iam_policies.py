"""Managed policies (AWS and customer), their versions, attachments and inline policies."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from test_iam_support import ACCOUNT, EC2_TRUST, World, allow, document

from kiln.iam import managed_policies
from kiln.services.iam import attachments, inline, policies, policy_versions, roles, users

IB_READ = "arn:aws:iam::aws:policy/AWSImageBuilderReadOnlyAccess"
SLR_POLICY = "arn:aws:iam::aws:policy/aws-service-role/AWSServiceRoleForImageBuilder"
DOC = document(allow("imagebuilder:Get*"))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def create(world: World, name: str = "p", text: str = DOC, **extra: object) -> dict[str, object]:
    params = {"PolicyName": name, "PolicyDocument": text, **extra}
    return world.call(policies.create_policy, params)["Policy"]  # type: ignore[no-any-return]


def test_create_and_get_customer_policy(world: World) -> None:
    made = create(
        world, "Readers", Path="/ib/", Description="read", Tags=[{"Key": "k", "Value": "v"}]
    )
    arn = f"arn:aws:iam::{ACCOUNT}:policy/ib/Readers"
    assert made["Arn"] == arn and made["DefaultVersionId"] == "v1"
    assert made["AttachmentCount"] == 0 and made["IsAttachable"] is True
    assert str(made["PolicyId"]).startswith("ANPA")
    got = world.call(policies.get_policy, {"PolicyArn": arn})["Policy"]
    assert got["Description"] == "read" and got["Tags"] == [{"Key": "k", "Value": "v"}]
    world.fails(
        policies.create_policy,
        {"PolicyName": "readers", "PolicyDocument": DOC},
        code="EntityAlreadyExists",
    )


def test_create_policy_validates_the_document(world: World) -> None:
    bad = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}
    )
    error = world.fails(
        policies.create_policy,
        {"PolicyName": "p", "PolicyDocument": bad},
        code="MalformedPolicyDocument",
    )
    assert error.message == "Policy statement must contain resources."
    huge = document(*[allow(f"s3:Get{'x' * 60}{i}") for i in range(120)])
    world.fails(
        policies.create_policy, {"PolicyName": "p", "PolicyDocument": huge}, code="LimitExceeded"
    )


def test_get_aws_managed_policy_counts_attachments(world: World) -> None:
    got = world.call(policies.get_policy, {"PolicyArn": IB_READ})["Policy"]
    assert got["PolicyName"] == "AWSImageBuilderReadOnlyAccess" and got["AttachmentCount"] == 0
    world.call(roles.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": EC2_TRUST})
    world.call(attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": IB_READ})
    again = world.call(policies.get_policy, {"PolicyArn": IB_READ})["Policy"]
    assert again["AttachmentCount"] == 1 and again["PolicyId"] == got["PolicyId"]
    error = world.fails(
        policies.get_policy, {"PolicyArn": "arn:aws:iam::aws:policy/Nope"}, code="NoSuchEntity"
    )
    assert error.message == "Policy arn:aws:iam::aws:policy/Nope was not found."
    world.fails(policies.get_policy, {"PolicyArn": "not-an-arn"}, code="InvalidInput")


def test_list_policies_scopes(world: World) -> None:
    create(world, "mine")
    aws = world.call(policies.list_policies, {"Scope": "AWS", "MaxItems": 1000})["Policies"]
    assert [p["Arn"] for p in aws] == [p.arn for p in managed_policies()]
    local = world.call(policies.list_policies, {"Scope": "Local"})["Policies"]
    assert [p["PolicyName"] for p in local] == ["mine"]
    everything = world.call(policies.list_policies, {"MaxItems": 1000})["Policies"]
    assert len(everything) == len(aws) + 1
    # the administrator's AdministratorAccess is the only attached one
    attached = world.call(policies.list_policies, {"OnlyAttached": True})["Policies"]
    assert [p["PolicyName"] for p in attached] == ["AdministratorAccess"]
    service_roles = world.call(policies.list_policies, {"PathPrefix": "/aws-service-role/"})
    assert [p["Arn"] for p in service_roles["Policies"]] == [SLR_POLICY]
    assert service_roles["Policies"][0]["IsAttachable"] is False


def test_policy_versions(world: World) -> None:
    arn = str(create(world)["Arn"])
    v2_doc = document(allow("imagebuilder:List*"))
    v2 = world.call(
        policy_versions.create_policy_version,
        {"PolicyArn": arn, "PolicyDocument": v2_doc, "SetAsDefault": True},
    )
    assert v2["PolicyVersion"]["VersionId"] == "v2" and v2["PolicyVersion"]["IsDefaultVersion"]
    assert world.call(policies.get_policy, {"PolicyArn": arn})["Policy"]["DefaultVersionId"] == "v2"
    got = world.call(policy_versions.get_policy_version, {"PolicyArn": arn, "VersionId": "v2"})
    assert unquote(got["PolicyVersion"]["Document"]) == v2_doc
    for _ in range(3):
        world.call(policy_versions.create_policy_version, {"PolicyArn": arn, "PolicyDocument": DOC})
    error = world.fails(
        policy_versions.create_policy_version,
        {"PolicyArn": arn, "PolicyDocument": DOC},
        code="LimitExceeded",
    )
    assert "up to 5 versions" in error.message
    listed = world.call(policy_versions.list_policy_versions, {"PolicyArn": arn})["Versions"]
    assert [v["VersionId"] for v in listed] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["IsDefaultVersion"] for v in listed] == [False, False, False, True, False]
    error = world.fails(
        policy_versions.delete_policy_version,
        {"PolicyArn": arn, "VersionId": "v2"},
        code="DeleteConflict",
    )
    assert error.message == "Cannot delete the default version of a policy."
    world.call(policy_versions.delete_policy_version, {"PolicyArn": arn, "VersionId": "v5"})
    created = world.call(
        policy_versions.create_policy_version, {"PolicyArn": arn, "PolicyDocument": DOC}
    )
    assert created["PolicyVersion"]["VersionId"] == "v6"  # ids are never reused
    world.call(policy_versions.set_default_policy_version, {"PolicyArn": arn, "VersionId": "v6"})
    world.fails(
        policy_versions.set_default_policy_version,
        {"PolicyArn": arn, "VersionId": "v5"},
        code="NoSuchEntity",
    )
    error = world.fails(policies.delete_policy, {"PolicyArn": arn}, code="DeleteConflict")
    assert "more than one version" in error.message
    for version in ("v1", "v2", "v3", "v4"):
        world.call(policy_versions.delete_policy_version, {"PolicyArn": arn, "VersionId": version})
    world.call(policies.delete_policy, {"PolicyArn": arn})
    world.fails(policies.get_policy, {"PolicyArn": arn}, code="NoSuchEntity")


def test_aws_managed_policy_version(world: World) -> None:
    shipped = next(p for p in managed_policies() if p.arn == IB_READ)
    got = world.call(
        policy_versions.get_policy_version, {"PolicyArn": IB_READ, "VersionId": shipped.version_id}
    )["PolicyVersion"]
    assert got["IsDefaultVersion"] is True
    assert json.loads(unquote(got["Document"]))["Statement"]
    world.fails(
        policy_versions.get_policy_version,
        {"PolicyArn": IB_READ, "VersionId": "v99"},
        code="NoSuchEntity",
    )
    world.fails(
        policy_versions.create_policy_version,
        {"PolicyArn": IB_READ, "PolicyDocument": DOC},
        code="InvalidInput",
    )
    world.fails(policies.delete_policy, {"PolicyArn": IB_READ}, code="InvalidInput")


def test_delete_attached_policy_conflicts_and_entities_listing(world: World) -> None:
    arn = str(create(world)["Arn"])
    world.call(users.create_user, {"UserName": "u"})
    world.call(roles.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": EC2_TRUST})
    world.call(attachments.attach_user_policy, {"UserName": "u", "PolicyArn": arn})
    world.call(attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": arn})
    entities = world.call(policies.list_entities_for_policy, {"PolicyArn": arn})
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["u"]
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["r"]
    assert entities["PolicyGroups"] == []
    only_roles = world.call(
        policies.list_entities_for_policy, {"PolicyArn": arn, "EntityFilter": "Role"}
    )
    assert only_roles["PolicyUsers"] == [] and len(only_roles["PolicyRoles"]) == 1
    assert world.call(policies.get_policy, {"PolicyArn": arn})["Policy"]["AttachmentCount"] == 2
    error = world.fails(policies.delete_policy, {"PolicyArn": arn}, code="DeleteConflict")
    assert error.message == "Cannot delete a policy attached to entities."


def test_attach_errors_and_listing(world: World) -> None:
    world.call(roles.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": EC2_TRUST})
    missing = f"arn:aws:iam::{ACCOUNT}:policy/missing"
    error = world.fails(
        attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": missing}, code="NoSuchEntity"
    )
    assert error.message == f"Policy {missing} does not exist or is not attachable."
    error = world.fails(
        attachments.attach_role_policy,
        {"RoleName": "r", "PolicyArn": SLR_POLICY},
        code="PolicyNotAttachable",
    )
    world.fails(
        attachments.attach_role_policy,
        {"RoleName": "nope", "PolicyArn": IB_READ},
        code="NoSuchEntity",
    )
    world.fails(
        attachments.detach_role_policy, {"RoleName": "r", "PolicyArn": IB_READ}, code="NoSuchEntity"
    )
    world.call(attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": IB_READ})
    world.call(attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": IB_READ})
    listed = world.call(attachments.list_attached_role_policies, {"RoleName": "r"})
    assert listed["AttachedPolicies"] == [
        {"PolicyName": "AWSImageBuilderReadOnlyAccess", "PolicyArn": IB_READ}
    ]
    for i in range(9):
        arn = str(create(world, f"p{i}")["Arn"])
        world.call(attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": arn})
    extra = str(create(world, "eleventh")["Arn"])
    error = world.fails(
        attachments.attach_role_policy, {"RoleName": "r", "PolicyArn": extra}, code="LimitExceeded"
    )
    assert error.message == "Cannot exceed quota for PoliciesPerRole: 10"


def test_inline_policies(world: World) -> None:
    world.call(users.create_user, {"UserName": "u"})
    pretty = json.dumps(json.loads(DOC), indent=2)
    world.call(
        inline.put_user_policy, {"UserName": "u", "PolicyName": "read", "PolicyDocument": pretty}
    )
    got = world.call(inline.get_user_policy, {"UserName": "u", "PolicyName": "read"})
    assert got["UserName"] == "u" and got["PolicyName"] == "read"
    assert unquote(got["PolicyDocument"]) == pretty  # kept as submitted
    assert "%0A" in got["PolicyDocument"] and "{" not in got["PolicyDocument"]
    assert world.call(inline.list_user_policies, {"UserName": "u"})["PolicyNames"] == ["read"]
    world.fails(inline.get_user_policy, {"UserName": "u", "PolicyName": "x"}, code="NoSuchEntity")
    world.fails(
        inline.put_user_policy,
        {"UserName": "u", "PolicyName": "bad", "PolicyDocument": "[]"},
        code="MalformedPolicyDocument",
    )
    big = document(*[allow(f"s3:Get{'x' * 60}{i}") for i in range(30)])
    world.fails(
        inline.put_user_policy,
        {"UserName": "u", "PolicyName": "big", "PolicyDocument": big},
        code="LimitExceeded",
    )
    world.call(inline.delete_user_policy, {"UserName": "u", "PolicyName": "read"})
    assert world.call(inline.list_user_policies, {"UserName": "u"})["PolicyNames"] == []

    world.call(roles.create_role, {"RoleName": "r", "AssumeRolePolicyDocument": EC2_TRUST})
    world.call(inline.put_role_policy, {"RoleName": "r", "PolicyName": "p", "PolicyDocument": DOC})
    got = world.call(inline.get_role_policy, {"RoleName": "r", "PolicyName": "p"})
    assert unquote(got["PolicyDocument"]) == DOC
    assert world.call(inline.list_role_policies, {"RoleName": "r"})["PolicyNames"] == ["p"]
    world.fails(inline.get_role_policy, {"RoleName": "r", "PolicyName": "x"}, code="NoSuchEntity")
