"""Policy examples from the AWS IAM User Guide, each with the decision the page describes.

Pages (https://docs.aws.amazon.com/IAM/latest/UserGuide/...):
  OPS   reference_policies_elements_condition_operators.html
  MULTI reference_policies_condition_examples-multi-valued-context-keys.html
  VARS  reference_policies_variables.html
  NA    reference_policies_elements_notaction.html
  NR    reference_policies_elements_notresource.html
  IP    reference_policies_examples_aws_deny-ip.html
  DATE  reference_policies_examples_aws-dates.html
  REG   reference_policies_examples_aws_deny-requested-region.html
  MFA   reference_policies_examples_aws_my-sec-creds-self-manage.html
  HOME  reference_policies_examples_s3_home-directory-console.html
  EVAL  reference_policies_evaluation-logic.html / ..._policy-eval-denyallow.html
  XACCT access_policies-cross-account-resource-access.html
  PB    access_policies_boundaries.html
  SVC   id_roles_create_for-service.html ; XROLE id_roles_create_for-user.html
"""

from __future__ import annotations

import pytest

from kiln.iam import (
    AuthorizationRequest,
    Outcome,
    PolicyKind,
    Principal,
    evaluate,
    evaluate_trust,
    parse_policy,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
ALICE = Principal.user(ACCOUNT, "Alice", user_id="AIDAALICE")


def identity(*statements: dict):
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)})


def allowed(policy, action, resource="*", *, context=None, principal=ALICE) -> bool:
    request = AuthorizationRequest(action, resource, principal, context or {})
    return evaluate(request, identity_policies=[policy]).allowed


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}

# OPS: StringEquals on aws:PrincipalTag/job-category
TAG = identity(
    {
        "Effect": "Allow",
        "Action": "iam:*AccessKey*",
        "Resource": "arn:aws:iam::111122223333:user/*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
    }
)
# OPS: StringLikeIfExists on ec2:InstanceType
IFEXISTS = identity(
    {
        "Effect": "Allow",
        "Action": "ec2:RunInstances",
        "Resource": "*",
        "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
    }
)
# OPS: Null on aws:TokenIssueTime (temporary credentials only)
NULL = identity(
    {
        "Effect": "Allow",
        "Action": "ec2:*",
        "Resource": "*",
        "Condition": {"Null": {"aws:TokenIssueTime": "false"}},
    }
)
# OPS: NumericLessThanEquals on s3:max-keys
NUMERIC = identity(
    {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
        "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}},
    }
)
# OPS: IpAddress on aws:SourceIp
SOURCE_IP = identity(
    {
        "Effect": "Allow",
        "Action": "iam:*",
        "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    }
)
# OPS: ArnEquals on aws:SourceArn (SNS topic may send to the queue)
ARN = identity(
    {
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:us-east-1:111122223333:QUEUE-ID",
        "Condition": {
            "ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:TOPIC-ID"}
        },
    }
)
# MULTI: Deny when a tag key does not start with key1
DENY_TAGS = identity(
    ALLOW_ALL,
    {
        "Sid": "DenyRestrictedTags",
        "Effect": "Deny",
        "Action": ["iam:Tag*", "iam:UnTag*"],
        "Resource": ["*"],
        "Condition": {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}},
    },
)
# MULTI: ForAnyValue:StringEquals allows when any requested tag key is listed
ANY_TAG = identity(
    {
        "Effect": "Allow",
        "Action": "ec2:CreateTags",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}},
    }
)
# VARS: per-user prefix, and a default value
HOME = identity(
    {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"],
    }
)
TEAM = identity(
    {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/${aws:PrincipalTag/team, 'company-wide'}/*",
    }
)
# VARS: ${*} is a literal asterisk
LITERAL_STAR = identity(
    {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/${*}",
    }
)
# HOME: prefix listing with StringLike and a variable
LIST_HOME = identity(
    {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
        "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}},
    }
)
# NA: everything except IAM
NOT_IAM = identity({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
# NR: deny everything outside the payroll folder
PAYROLL = identity(
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {
        "Effect": "Deny",
        "Action": "s3:*",
        "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"],
    },
)
# IP: deny requests from outside the ranges unless a service calls on the user's behalf
DENY_IP = identity(
    ALLOW_ALL,
    {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
            "Bool": {"aws:ViaAWSService": "false"},
        },
    },
)
# DATE: allowed within a date range
DATES = identity(
    {
        "Effect": "Allow",
        "Action": "service-prefix:action-name",
        "Resource": "*",
        "Condition": {
            "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
            "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"},
        },
    }
)
# REG: deny outside two regions, except global services
REGIONS = identity(
    ALLOW_ALL,
    {
        "Sid": "DenyAllOutsideRequestedRegions",
        "Effect": "Deny",
        "NotAction": ["cloudfront:*", "iam:*", "route53:*", "support:*"],
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-central-1", "eu-west-1"]}},
    },
)
# MFA: deny everything but MFA self-service without MFA
MFA = identity(
    ALLOW_ALL,
    {
        "Sid": "DenyAllExceptListedIfNoMFA",
        "Effect": "Deny",
        "NotAction": [
            "iam:CreateVirtualMFADevice",
            "iam:EnableMFADevice",
            "iam:GetUser",
            "iam:ListMFADevices",
            "iam:ListVirtualMFADevices",
            "iam:ResyncMFADevice",
            "sts:GetSessionToken",
        ],
        "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
    },
)

CASES = [
    # (page, policy, action, resource, context, expected)
    (
        "OPS",
        TAG,
        "iam:CreateAccessKey",
        "arn:aws:iam::111122223333:user/bob",
        {"aws:PrincipalTag/job-category": "iamuser-admin"},
        True,
    ),
    ("OPS", TAG, "iam:CreateAccessKey", "arn:aws:iam::111122223333:user/bob", {}, False),
    ("OPS", IFEXISTS, "ec2:RunInstances", "*", {"ec2:InstanceType": "t2.micro"}, True),
    ("OPS", IFEXISTS, "ec2:RunInstances", "*", {"ec2:InstanceType": "c5.large"}, False),
    ("OPS", IFEXISTS, "ec2:RunInstances", "*", {}, True),
    (
        "OPS",
        NULL,
        "ec2:DescribeInstances",
        "*",
        {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"},
        True,
    ),
    ("OPS", NULL, "ec2:DescribeInstances", "*", {}, False),
    (
        "OPS",
        NUMERIC,
        "s3:ListBucket",
        "arn:aws:s3:::amzn-s3-demo-bucket",
        {"s3:max-keys": "10"},
        True,
    ),
    (
        "OPS",
        NUMERIC,
        "s3:ListBucket",
        "arn:aws:s3:::amzn-s3-demo-bucket",
        {"s3:max-keys": "11"},
        False,
    ),
    ("OPS", SOURCE_IP, "iam:ListUsers", "*", {"aws:SourceIp": "203.0.113.7"}, True),
    ("OPS", SOURCE_IP, "iam:ListUsers", "*", {"aws:SourceIp": "198.51.100.7"}, False),
    (
        "OPS",
        ARN,
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:111122223333:QUEUE-ID",
        {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:TOPIC-ID"},
        True,
    ),
    (
        "OPS",
        ARN,
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:111122223333:QUEUE-ID",
        {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:OTHER"},
        False,
    ),
    # the four rows of the MULTI page's ForAllValues:StringNotLike table
    ("MULTI", DENY_TAGS, "iam:TagUser", "*", {"aws:TagKeys": ["key1:legal"]}, True),
    ("MULTI", DENY_TAGS, "iam:TagUser", "*", {"aws:TagKeys": ["key1:hr", "key1:personnel"]}, True),
    ("MULTI", DENY_TAGS, "iam:TagUser", "*", {"aws:TagKeys": ["key2:audit"]}, False),
    ("MULTI", DENY_TAGS, "iam:TagUser", "*", {}, False),
    ("MULTI", ANY_TAG, "ec2:CreateTags", "*", {"aws:TagKeys": ["environment", "x"]}, True),
    ("MULTI", ANY_TAG, "ec2:CreateTags", "*", {"aws:TagKeys": ["x"]}, False),
    ("MULTI", ANY_TAG, "ec2:CreateTags", "*", {}, False),
    ("VARS", HOME, "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/Alice/a.txt", {}, True),
    ("VARS", HOME, "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/Bob/a.txt", {}, False),
    (
        "VARS",
        TEAM,
        "s3:GetObject",
        "arn:aws:s3:::amzn-s3-demo-bucket/red/x",
        {"aws:PrincipalTag/team": "red"},
        True,
    ),
    ("VARS", TEAM, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/company-wide/x", {}, True),
    ("VARS", TEAM, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/red/x", {}, False),
    ("VARS", LITERAL_STAR, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/*", {}, True),
    ("VARS", LITERAL_STAR, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/x", {}, False),
    (
        "HOME",
        LIST_HOME,
        "s3:ListBucket",
        "arn:aws:s3:::amzn-s3-demo-bucket",
        {"s3:prefix": "home/Alice/photos"},
        True,
    ),
    (
        "HOME",
        LIST_HOME,
        "s3:ListBucket",
        "arn:aws:s3:::amzn-s3-demo-bucket",
        {"s3:prefix": "home/Bob/"},
        False,
    ),
    ("NA", NOT_IAM, "s3:GetObject", "*", {}, True),
    ("NA", NOT_IAM, "iam:CreateUser", "*", {}, False),
    ("NR", PAYROLL, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan.csv", {}, True),
    ("NR", PAYROLL, "s3:GetObject", "arn:aws:s3:::HRBucket/Other/jan.csv", {}, False),
    (
        "IP",
        DENY_IP,
        "ec2:RunInstances",
        "*",
        {"aws:SourceIp": "192.0.2.10", "aws:ViaAWSService": "false"},
        True,
    ),
    (
        "IP",
        DENY_IP,
        "ec2:RunInstances",
        "*",
        {"aws:SourceIp": "198.51.100.1", "aws:ViaAWSService": "false"},
        False,
    ),
    (
        "IP",
        DENY_IP,
        "ec2:RunInstances",
        "*",
        {"aws:SourceIp": "198.51.100.1", "aws:ViaAWSService": "true"},
        True,
    ),
    (
        "DATE",
        DATES,
        "service-prefix:action-name",
        "*",
        {"aws:CurrentTime": "2020-05-01T00:00:00Z"},
        True,
    ),
    (
        "DATE",
        DATES,
        "service-prefix:action-name",
        "*",
        {"aws:CurrentTime": "2020-07-01T00:00:00Z"},
        False,
    ),
    ("REG", REGIONS, "ec2:RunInstances", "*", {"aws:RequestedRegion": "eu-west-1"}, True),
    ("REG", REGIONS, "ec2:RunInstances", "*", {"aws:RequestedRegion": "us-east-1"}, False),
    ("REG", REGIONS, "iam:CreateUser", "*", {"aws:RequestedRegion": "us-east-1"}, True),
    ("MFA", MFA, "ec2:RunInstances", "*", {}, False),
    ("MFA", MFA, "ec2:RunInstances", "*", {"aws:MultiFactorAuthPresent": "true"}, True),
    ("MFA", MFA, "iam:EnableMFADevice", "*", {}, True),
]


@pytest.mark.parametrize(
    ("page", "policy", "action", "resource", "context", "expected"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_aws_documentation_examples(page, policy, action, resource, context, expected):
    assert allowed(policy, action, resource, context=context) is expected


def test_explicit_deny_overrides_resource_allow():  # EVAL
    bucket_policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": ACCOUNT},
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/*",
            },
        },
        kind=PolicyKind.RESOURCE,
    )
    deny = identity({"Sid": "NoS3", "Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    request = AuthorizationRequest("s3:GetObject", "arn:aws:s3:::b/k", ALICE)
    assert evaluate(request, resource_policy=bucket_policy).allowed
    decision = evaluate(request, identity_policies=[deny], resource_policy=bucket_policy)
    assert decision.outcome is Outcome.EXPLICIT_DENY
    assert "NoS3" in decision.explain()


def test_cross_account_needs_both_sides():  # XACCT
    resource = f"arn:aws:imagebuilder:us-east-1:{OTHER}:component/shared/1.0.0/1"
    share = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": [ACCOUNT]},
                "Action": ["imagebuilder:GetComponent", "imagebuilder:ListComponents"],
                "Resource": resource,
            },
        },
        kind=PolicyKind.RESOURCE,
    )
    mine = identity({"Effect": "Allow", "Action": "imagebuilder:Get*", "Resource": "*"})
    request = AuthorizationRequest("imagebuilder:GetComponent", resource, ALICE)
    assert evaluate(request, identity_policies=[mine], resource_policy=share).allowed
    only_resource = evaluate(request, resource_policy=share)
    assert not only_resource.allowed and "cross-account" in only_resource.explain()
    only_identity = evaluate(request, identity_policies=[mine])
    assert not only_identity.allowed and OTHER in only_identity.explain()
    # same account: the resource policy alone is enough
    local = AuthorizationRequest(
        "imagebuilder:GetComponent", resource, Principal.user(OTHER, "carol")
    )
    share_local = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:user/carol"},
                "Action": "imagebuilder:GetComponent",
                "Resource": resource,
            },
        },
        kind=PolicyKind.RESOURCE,
    )
    assert evaluate(local, resource_policy=share_local).allowed


def test_permissions_boundary_intersects():  # PB
    boundary = identity(
        {"Effect": "Allow", "Action": ["s3:*", "cloudwatch:*", "ec2:*"], "Resource": "*"}
    )
    grants = identity(
        {"Effect": "Allow", "Action": ["iam:CreateUser", "s3:ListBucket"], "Resource": "*"}
    )

    def decide(action: str):
        return evaluate(
            AuthorizationRequest(action, "*", ALICE),
            identity_policies=[grants],
            permissions_boundary=boundary,
        )

    assert not decide("iam:CreateUser").allowed
    assert "permissions boundary" in decide("iam:CreateUser").explain()
    assert decide("s3:ListBucket").allowed
    assert not decide("ec2:RunInstances").allowed  # the boundary alone grants nothing


def test_session_policy_intersects():
    role = Principal.assumed_role(ACCOUNT, "dev", "s1")
    full = identity(ALLOW_ALL)
    session = identity({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"})
    ok = evaluate(
        AuthorizationRequest("s3:GetObject", "*", role),
        identity_policies=[full],
        session_policies=[session],
    )
    no = evaluate(
        AuthorizationRequest("s3:PutObject", "*", role),
        identity_policies=[full],
        session_policies=[session],
    )
    assert ok.allowed and not no.allowed


def test_service_trust_policy():  # SVC
    trust = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
        },
        kind=PolicyKind.TRUST,
    )
    assert evaluate_trust(trust, principal=Principal.service("ec2.amazonaws.com")).allowed
    assert not evaluate_trust(trust, principal=Principal.service("lambda.amazonaws.com")).allowed
    assert not evaluate_trust(
        trust, principal=Principal.service("ec2.amazonaws.com"), action="sts:TagSession"
    ).allowed


def test_account_trust_policy_with_external_id():  # XROLE
    trust = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"sts:ExternalId": "Unique ID Assigned by Example Corp"}
                },
            },
        },
        kind=PolicyKind.TRUST,
    )
    ctx = {"sts:ExternalId": "Unique ID Assigned by Example Corp"}
    assert evaluate_trust(trust, principal=ALICE, context=ctx).allowed
    assert evaluate_trust(
        trust, principal=Principal.assumed_role(ACCOUNT, "r", "s"), context=ctx
    ).allowed
    assert not evaluate_trust(trust, principal=ALICE).allowed
    assert not evaluate_trust(trust, principal=Principal.user(OTHER, "eve"), context=ctx).allowed


def test_role_arn_principal_matches_its_sessions_only():
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/ops/builder"
    trust = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": "sts:AssumeRole",
            },
        },
        kind=PolicyKind.TRUST,
    )
    session = Principal.assumed_role(ACCOUNT, "builder", "i-1", role_path="/ops/")
    assert evaluate_trust(trust, principal=session).allowed
    assert not evaluate_trust(trust, principal=Principal.assumed_role(ACCOUNT, "other", "i-1"))
    assert not evaluate_trust(trust, principal=ALICE)


def test_not_principal_deny():
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/Alice"},
                    "Action": "s3:*",
                    "Resource": "*",
                },
            ],
        },
        kind=PolicyKind.RESOURCE,
    )
    get = "s3:GetObject"
    assert evaluate(AuthorizationRequest(get, "*", ALICE), resource_policy=policy).allowed
    bob = Principal.user(ACCOUNT, "bob")
    assert not evaluate(AuthorizationRequest(get, "*", bob), resource_policy=policy).allowed


def test_root_user_is_allowed_in_own_account_unless_denied():
    root = Principal.root(ACCOUNT)
    request = AuthorizationRequest("imagebuilder:CreateComponent", "*", root)
    assert evaluate(request).allowed
    deny = identity({"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert not evaluate(request, identity_policies=[deny]).allowed


def test_explain_strings():
    decision = evaluate(
        AuthorizationRequest("s3:PutObject", "arn:aws:s3:::x/y", ALICE), identity_policies=[NOT_IAM]
    )
    assert decision.explain().startswith("Allowed: arn:aws:iam::111122223333:user/Alice")
    assert "statement #0" in decision.explain()
    denied = evaluate(
        AuthorizationRequest("iam:CreateUser", "*", ALICE), identity_policies=[NOT_IAM]
    )
    assert denied.outcome is Outcome.IMPLICIT_DENY
    assert "no statement allows" in denied.explain()
