"""AWS managed policies shipped as data, evaluated as Image Builder needs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiln.iam import (
    AuthorizationRequest,
    Principal,
    evaluate,
    managed_policies,
    managed_policy,
)

# The spec folder beside the repository (CI lays shared/ beside the clone).
SPEC = Path(__file__).resolve().parents[3].parent / "shared" / "spec" / "policies"
PROFILE = "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilder"
SSM = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
READ_ONLY = "arn:aws:iam::aws:policy/AWSImageBuilderReadOnlyAccess"
ACCOUNT = "123456789012"


def test_catalog_names_arns_and_paths():
    by_name = {p.name: p for p in managed_policies()}
    assert len(by_name) == 9  # the eight Image Builder policies and AdministratorAccess
    slr = by_name["AWSServiceRoleForImageBuilder"]
    assert slr.arn == "arn:aws:iam::aws:policy/aws-service-role/AWSServiceRoleForImageBuilder"
    assert slr.path == "/aws-service-role/"
    assert slr.version_id == "v26"
    lifecycle = by_name["EC2ImageBuilderLifecycleExecutionPolicy"]
    assert lifecycle.arn == (
        "arn:aws:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy"
    )
    assert by_name["AWSImageBuilderReadOnlyAccess"].arn == READ_ONLY
    assert by_name["AWSImageBuilderReadOnlyAccess"].create_date.year == 2019
    for policy in by_name.values():
        assert managed_policy(policy.arn) is policy
    assert managed_policy("arn:aws:iam::aws:policy/NoSuchPolicy") is None


@pytest.mark.skipif(not SPEC.is_dir(), reason="spec policies not present")
def test_shipped_files_are_unchanged_copies():
    package = Path(__file__).parents[3] / "kiln" / "iam" / "managed"
    for source in SPEC.glob("*.json"):
        assert (package / source.name).read_bytes() == source.read_bytes()
    for policy in managed_policies():
        raw = json.loads((package / f"{policy.name}.json").read_text())
        assert json.loads(policy.document_json) == raw["PolicyVersion"]["Document"]


def _instance_profile_allows(action: str, resource: str, **context: str) -> bool:
    session = Principal.assumed_role(ACCOUNT, "EC2InstanceProfileForImageBuilder", "i-0123")
    request = AuthorizationRequest(action, resource, session, context)
    policies = [managed_policy(PROFILE), managed_policy(SSM)]
    return evaluate(request, identity_policies=[p for p in policies if p]).allowed


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        (
            "imagebuilder:GetComponent",
            f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:component/c/1.0.0/1",
            True,
        ),
        ("ssm:UpdateInstanceInformation", "*", True),
        ("ssmmessages:OpenDataChannel", "*", True),
        ("s3:GetObject", "arn:aws:s3:::ec2imagebuilder-x/y", True),
        ("s3:PutObject", "arn:aws:s3:::my-logs/x", False),
        (
            "logs:PutLogEvents",
            f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/imagebuilder/x:log-stream:y",
            True,
        ),
        ("logs:PutLogEvents", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/other:*", False),
        ("imagebuilder:CreateComponent", "*", False),
    ],
)
def test_instance_profile_role(action, resource, expected):
    assert _instance_profile_allows(action, resource) is expected


def test_instance_profile_iso_needs_own_account_variable():
    iso = "arn:aws:s3:::media/images/debian.iso"
    assert _instance_profile_allows("s3:GetObject", iso, **{"s3:ResourceAccount": ACCOUNT})
    assert not _instance_profile_allows("s3:GetObject", iso, **{"s3:ResourceAccount": "999"})
    assert not _instance_profile_allows("s3:GetObject", iso)


def test_instance_profile_kms_needs_both_multivalued_keys():
    ctx = {
        "kms:EncryptionContextKeys": ["aws:imagebuilder:arn"],
        "aws:CalledVia": ["imagebuilder.amazonaws.com"],
    }
    session = Principal.assumed_role(ACCOUNT, "ib", "i-1")
    policy = managed_policy(PROFILE)
    assert policy is not None
    ok = AuthorizationRequest("kms:Decrypt", "*", session, ctx)
    assert evaluate(ok, identity_policies=[policy]).allowed
    partial = AuthorizationRequest(
        "kms:Decrypt", "*", session, {"kms:EncryptionContextKeys": ["aws:imagebuilder:arn"]}
    )
    assert not evaluate(partial, identity_policies=[policy]).allowed


def test_read_only_access():
    policy = managed_policy(READ_ONLY)
    assert policy is not None
    user = Principal.user(ACCOUNT, "viewer")

    def decide(action: str):
        return evaluate(AuthorizationRequest(action, "*", user), identity_policies=[policy])

    assert decide("imagebuilder:ListComponents").allowed
    assert decide("imagebuilder:getimage").allowed  # action names are case-insensitive
    denied = decide("imagebuilder:CreateComponent")
    assert not denied.allowed
    assert "AWSImageBuilderReadOnlyAccess" in decide("imagebuilder:ListComponents").explain()
