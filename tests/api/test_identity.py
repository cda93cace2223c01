"""Identity end to end: real credentials, SigV4 on every request, IAM on every operation, the
prerequisites page's set-up done verbatim, the service-linked role, and STS sessions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from unittest import mock

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.api.test_aws_cli import AWS, aws
from tests.conftest import client_for

EXAMPLE = (Path(__file__).parents[2] / "examples" / "components" / "hello-kiln.yaml").read_text()
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
MANAGED = "arn:aws:iam::aws:policy/"


def code_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_administrator_is_who_sts_says(endpoint, admin, kiln):
    identity = client_for(endpoint, admin, "sts").get_caller_identity()
    assert identity["Account"] == kiln.default_account
    assert identity["Arn"] == f"arn:aws:iam::{kiln.default_account}:user/kiln-admin"


def test_service_linked_role_appears_with_the_first_resource(endpoint, admin, ib):
    iam = client_for(endpoint, admin, "iam")
    assert code_of(iam.get_role, RoleName="AWSServiceRoleForImageBuilder")[0] == "NoSuchEntity"
    ib.create_component(name="first", semanticVersion="1.0.0", platform="Linux", data=EXAMPLE)
    ib.create_component(name="second", semanticVersion="1.0.0", platform="Linux", data=EXAMPLE)
    role = iam.get_role(RoleName="AWSServiceRoleForImageBuilder")["Role"]
    assert role["Path"] == "/aws-service-role/imagebuilder.amazonaws.com/"
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "imagebuilder.amazonaws.com"}
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert roles.count("AWSServiceRoleForImageBuilder") == 1


def _user_with(iam, endpoint, name, policy):
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=MANAGED + policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]

    class Key:
        access_key_id = key["AccessKeyId"]
        secret_access_key = key["SecretAccessKey"]

    return client_for(endpoint, Key)


def test_read_only_users_read_and_full_access_users_create(endpoint, admin):
    iam = client_for(endpoint, admin, "iam")
    reader = _user_with(iam, endpoint, "reader", "AWSImageBuilderReadOnlyAccess")
    builder = _user_with(iam, endpoint, "builder", "AWSImageBuilderFullAccess")
    assert reader.list_components()["componentVersionList"] == []
    code, message = code_of(
        reader.create_component,
        name="denied",
        semanticVersion="1.0.0",
        platform="Linux",
        data=EXAMPLE,
    )
    assert code == "AccessDeniedException"
    assert "imagebuilder:CreateComponent" in message
    assert "user/reader" in message
    created = builder.create_component(
        name="allowed", semanticVersion="1.0.0", platform="Linux", data=EXAMPLE
    )
    assert created["componentBuildVersionArn"].endswith("component/allowed/1.0.0/1")
    assert [c["name"] for c in reader.list_components()["componentVersionList"]] == ["allowed"]
    nobody = _user_with(iam, endpoint, "nobody", "AmazonSSMManagedInstanceCore")
    assert code_of(nobody.list_components)[0] == "AccessDeniedException"


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is not installed")
def test_prerequisites_set_up_verbatim_with_the_aws_cli(endpoint, admin, kiln, tmp_path):
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(EC2_TRUST))
    role = "EC2InstanceProfileForImageBuilderRole"
    aws(
        endpoint,
        admin,
        "iam",
        "create-role",
        "--role-name",
        role,
        "--assume-role-policy-document",
        f"file://{trust}",
    )
    for policy in ("EC2InstanceProfileForImageBuilder", "AmazonSSMManagedInstanceCore"):
        aws(
            endpoint,
            admin,
            "iam",
            "attach-role-policy",
            "--role-name",
            role,
            "--policy-arn",
            MANAGED + policy,
        )
    aws(endpoint, admin, "iam", "create-instance-profile", "--instance-profile-name", role)
    aws(
        endpoint,
        admin,
        "iam",
        "add-role-to-instance-profile",
        "--instance-profile-name",
        role,
        "--role-name",
        role,
    )
    profile = json.loads(
        aws(endpoint, admin, "iam", "get-instance-profile", "--instance-profile-name", role).stdout
    )["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [role]
    attached = json.loads(
        aws(endpoint, admin, "iam", "list-attached-role-policies", "--role-name", role).stdout
    )["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == {
        "EC2InstanceProfileForImageBuilder",
        "AmazonSSMManagedInstanceCore",
    }

    iam = client_for(endpoint, admin, "iam")
    role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    results = iam.simulate_principal_policy(
        PolicySourceArn=role_arn,
        ActionNames=["imagebuilder:GetComponent", "ssm:UpdateInstanceInformation", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::my-log-bucket/logs/x"],
    )["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
    assert decisions == {
        "imagebuilder:GetComponent": "allowed",
        "ssm:UpdateInstanceInformation": "allowed",
        "s3:PutObject": "implicitDeny",
    }

    # The cross-account distribution role, in a second account.
    other = kiln.create_account("target")
    cross_trust = tmp_path / "cross.json"
    cross_trust.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{kiln.default_account}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
    )
    aws(
        endpoint,
        other,
        "iam",
        "create-role",
        "--role-name",
        "EC2ImageBuilderDistributionCrossAccountRole",
        "--assume-role-policy-document",
        f"file://{cross_trust}",
    )
    aws(
        endpoint,
        other,
        "iam",
        "attach-role-policy",
        "--role-name",
        "EC2ImageBuilderDistributionCrossAccountRole",
        "--policy-arn",
        MANAGED + "Ec2ImageBuilderCrossAccountDistributionAccess",
    )
    target_identity = client_for(endpoint, other, "sts").get_caller_identity()
    assert target_identity["Account"] == other.account != kiln.default_account

    # The source account may assume it; the session acts in the target account.
    sts = client_for(endpoint, admin, "sts")
    assumed = sts.assume_role(
        RoleArn=f"arn:aws:iam::{other.account}:role/EC2ImageBuilderDistributionCrossAccountRole",
        RoleSessionName="distribution",
    )
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")

    class Session:
        access_key_id = creds["AccessKeyId"]
        secret_access_key = creds["SecretAccessKey"]
        session_token = creds["SessionToken"]

    me = client_for(endpoint, Session, "sts").get_caller_identity()
    assert me["Arn"] == (
        f"arn:aws:sts::{other.account}:assumed-role/"
        "EC2ImageBuilderDistributionCrossAccountRole/distribution"
    )

    class Tampered(Session):
        session_token = creds["SessionToken"][:-4] + "AAAA"

    assert code_of(client_for(endpoint, Tampered, "sts").get_caller_identity)[0] in (
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    )


def _signed(
    endpoint,
    admin,
    *,
    service="imagebuilder",
    region="us-east-1",
    secret=None,
    body=b"{}",
    when=None,
):
    request = AWSRequest(
        method="POST",
        url=f"{endpoint}/ListComponents",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    signer = SigV4Auth(
        Credentials(admin.access_key_id, secret or admin.secret_access_key), service, region
    )
    if when is None:
        signer.add_auth(request)
    else:  # sign as if the clock said `when`
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return request


def _send(request, body=None):
    headers = dict(request.headers.items())
    return httpx.post(request.url, headers=headers, content=body or request.body)


def test_sigv4_rejects_every_wrong_request(endpoint, admin):
    good = _send(_signed(endpoint, admin))
    assert good.status_code == 200, good.text

    def rejected(response, code):
        assert response.status_code in (400, 403), response.text
        assert response.headers["x-amzn-ErrorType"].split(":")[0] == code, response.headers

    rejected(_send(_signed(endpoint, admin, secret="not-the-secret")), "InvalidSignatureException")
    rejected(
        _send(_signed(endpoint, admin), body=b'{"maxResults": 1}'), "InvalidSignatureException"
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    rejected(_send(_signed(endpoint, admin, when=past)), "InvalidSignatureException")
    rejected(_send(_signed(endpoint, admin, region="mars-east-1")), "InvalidSignatureException")
    wrong_service = _send(_signed(endpoint, admin, service="ec2"))
    assert wrong_service.status_code in (400, 403)
    unsigned = httpx.post(f"{endpoint}/ListComponents", content=b"{}")
    rejected(unsigned, "MissingAuthenticationTokenException")

    class Unknown:
        access_key_id = "AKIAUNKNOWNUNKNOWN00"
        secret_access_key = admin.secret_access_key

    assert code_of(client_for(endpoint, Unknown).list_components)[0] == (
        "UnrecognizedClientException"
    )
