"""IAM and STS through an unmodified boto3 client against a live Kiln server.

The registries are put on the Kiln object here, so these tests do not depend on app wiring.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kiln.cli.serving import background_server
from kiln.services import iam as iam_service
from kiln.services import sts as sts_service
from tests.conftest import client_for

EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
ROLE = "EC2InstanceProfileForImageBuilder"


@pytest.fixture
def url(kiln: Any) -> Iterator[str]:
    kiln.registries["iam"] = iam_service.registry()
    kiln.registries["sts"] = sts_service.registry()
    with background_server(kiln) as endpoint:
        yield endpoint


def error_of(call: Any, **params: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_prerequisites_with_boto3(url: str, admin: Any) -> None:
    iam = client_for(url, admin, "iam")
    role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))["Role"]
    assert role["AssumeRolePolicyDocument"] == EC2_TRUST
    for name in ("EC2InstanceProfileForImageBuilder", "AmazonSSMManagedInstanceCore"):
        iam.attach_role_policy(RoleName=ROLE, PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    iam.create_instance_profile(InstanceProfileName=ROLE)
    iam.add_role_to_instance_profile(InstanceProfileName=ROLE, RoleName=ROLE)
    profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    assert profile["Roles"][0]["RoleName"] == ROLE
    assert profile["Roles"][0]["AssumeRolePolicyDocument"] == EC2_TRUST
    results = iam.simulate_principal_policy(
        PolicySourceArn=role["Arn"],
        ActionNames=["imagebuilder:GetComponent", "ssm:UpdateInstanceInformation", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::logs/*"],
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "allowed", "implicitDeny"]
    version = iam.get_policy_version(
        PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", VersionId="v2"
    )["PolicyVersion"]
    assert isinstance(version["Document"], dict) and version["Document"]["Statement"]
    assert error_of(iam.get_role, RoleName="missing") == ("NoSuchEntity", 404)
    assert error_of(iam.add_role_to_instance_profile, InstanceProfileName=ROLE, RoleName=ROLE) == (
        "LimitExceeded",
        409,
    )
    assert error_of(iam.delete_role, RoleName=ROLE) == ("DeleteConflict", 409)
    assert error_of(iam.create_role, RoleName="bad", AssumeRolePolicyDocument="{}") == (
        "MalformedPolicyDocument",
        400,
    )


def test_users_keys_and_assume_role_with_boto3(url: str, admin: Any) -> None:
    iam = client_for(url, admin, "iam")
    sts = client_for(url, admin, "sts")
    assert sts.get_caller_identity()["Arn"].endswith(":user/kiln-admin")
    account = sts.get_caller_identity()["Account"]
    iam.create_user(UserName="dev")
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    dev = SimpleNamespace(
        access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]
    )
    assert client_for(url, dev, "sts").get_caller_identity()["Arn"].endswith(":user/dev")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    iam.attach_role_policy(
        RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/AWSImageBuilderReadOnlyAccess"
    )
    out = sts.assume_role(RoleArn=arn, RoleSessionName="ci")
    creds = out["Credentials"]
    session = SimpleNamespace(
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )
    me = client_for(url, session, "sts").get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{account}:assumed-role/reader/ci"
    reader_ib = client_for(url, session)
    assert reader_ib.list_components()["componentVersionList"] == []
    code, status = error_of(client_for(url, session, "iam").create_user, UserName="x")
    assert status == 403
    # dev has no policy allowing sts:AssumeRole
    code, status = error_of(
        client_for(url, dev, "sts").assume_role, RoleArn=arn, RoleSessionName="ci"
    )
    assert (code, status) == ("AccessDenied", 403)
