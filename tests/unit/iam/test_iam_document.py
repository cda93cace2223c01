"""Parsing and validating policy documents."""

from __future__ import annotations

import json

import pytest

from kiln.core.errors import ClientError
from kiln.iam import (
    Effect,
    MalformedPolicyDocumentError,
    PolicyKind,
    parse_policy,
)

ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def doc(*statements: dict, version: str | None = "2012-10-17") -> str:
    body: dict = {"Statement": list(statements)}
    if version is not None:
        body["Version"] = version
    return json.dumps(body)


def test_single_statement_object_and_list():
    one = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": ALLOW_ALL}))
    many = parse_policy(doc(ALLOW_ALL, {**ALLOW_ALL, "Effect": "Deny", "Sid": "D"}))
    assert len(one.statements) == 1
    assert [s.effect for s in many.statements] == [Effect.ALLOW, Effect.DENY]
    assert many.statements[1].sid == "D"
    assert many.statements[1].index == 1


def test_error_is_a_client_error_with_aws_code():
    with pytest.raises(MalformedPolicyDocumentError) as info:
        parse_policy("{not json")
    assert isinstance(info.value, ClientError)
    assert (info.value.code, info.value.status) == ("MalformedPolicyDocument", 400)
    assert info.value.message == "Syntax errors in policy."


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("[]", PolicyKind.IDENTITY, "Syntax errors in policy."),
        (json.dumps({"Version": "2012-10-17"}), PolicyKind.IDENTITY, "Syntax errors in policy."),
        (
            json.dumps({"Version": "2012-10-17", "Statement": []}),
            PolicyKind.IDENTITY,
            "Syntax errors in policy.",
        ),
        (
            json.dumps({"Version": "2012-10-17", "Statement": ALLOW_ALL, "Extra": 1}),
            PolicyKind.IDENTITY,
            "Syntax errors in policy.",
        ),
        (
            doc(ALLOW_ALL, version="2010-01-01"),
            PolicyKind.IDENTITY,
            "Policy document must be version 2012-10-17 or greater.",
        ),
        (
            doc({"Effect": "Allow", "Resource": "*"}),
            PolicyKind.IDENTITY,
            "Policy statement must contain actions.",
        ),
        (
            doc({"Effect": "Allow", "Action": [], "Resource": "*"}),
            PolicyKind.IDENTITY,
            "Policy statement must contain actions.",
        ),
        (
            doc({"Effect": "Allow", "Action": "s3:GetObject"}),
            PolicyKind.IDENTITY,
            "Policy statement must contain resources.",
        ),
        (
            doc({"Action": "s3:GetObject", "Resource": "*"}),
            PolicyKind.IDENTITY,
            "Missing required field Effect",
        ),
        (doc({**ALLOW_ALL, "Effect": "allow"}), PolicyKind.IDENTITY, "Syntax errors in policy."),
        (doc({**ALLOW_ALL, "NotAction": "s3:*"}), PolicyKind.IDENTITY, "Syntax errors in policy."),
        (
            doc({**ALLOW_ALL, "Action": "GetObject"}),
            PolicyKind.IDENTITY,
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            doc({**ALLOW_ALL, "Resource": "bucket/key"}),
            PolicyKind.IDENTITY,
            'Resource bucket/key must be in ARN format or "*".',
        ),
        (
            doc({**ALLOW_ALL, "Principal": "*"}),
            PolicyKind.IDENTITY,
            "Policy document should not specify a principal.",
        ),
        (doc(ALLOW_ALL), PolicyKind.RESOURCE, "Missing required field Principal"),
        (
            doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
            PolicyKind.TRUST,
            "Missing required field Principal",
        ),
        (
            doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*", "Resource": "*"}),
            PolicyKind.TRUST,
            "Has prohibited field Resource",
        ),
        (
            doc({"Effect": "Allow", "Action": "s3:GetObject", "Principal": "*"}),
            PolicyKind.TRUST,
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ),
        (
            doc({**ALLOW_ALL, "Principal": {"AWS": "bob"}}),
            PolicyKind.RESOURCE,
            'Invalid principal in policy: "AWS":"bob"',
        ),
        (
            doc({**ALLOW_ALL, "Principal": {"Nobody": "x"}}),
            PolicyKind.RESOURCE,
            'Invalid principal in policy: "Nobody"',
        ),
        (
            doc({**ALLOW_ALL, "Sid": "A"}, {**ALLOW_ALL, "Sid": "A"}),
            PolicyKind.IDENTITY,
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (
            doc({**ALLOW_ALL, "Sid": "has space"}),
            PolicyKind.IDENTITY,
            "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the "
            "regular expression [0-9A-Za-z]*",
        ),
        (
            doc({**ALLOW_ALL, "Condition": {"StringEqualz": {"k": "v"}}}),
            PolicyKind.IDENTITY,
            "Invalid Condition type : StringEqualz.",
        ),
        (
            doc({**ALLOW_ALL, "Condition": {"ForSomeValues:StringEquals": {"k": "v"}}}),
            PolicyKind.IDENTITY,
            "Invalid Condition type : ForSomeValues:StringEquals.",
        ),
        (
            doc({**ALLOW_ALL, "Condition": {"NullIfExists": {"k": "true"}}}),
            PolicyKind.IDENTITY,
            "Invalid Condition type : NullIfExists.",
        ),
        (
            doc({**ALLOW_ALL, "Condition": {"NumericLessThan": {"k": "ten"}}}),
            PolicyKind.IDENTITY,
            "Invalid Condition value for NumericLessThan: ten.",
        ),
        (
            doc({**ALLOW_ALL, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}}}),
            PolicyKind.IDENTITY,
            "Invalid Condition value for IpAddress: 10.0.0.300/8.",
        ),
        (
            doc({**ALLOW_ALL, "Condition": {"Null": {"k": "maybe"}}}),
            PolicyKind.IDENTITY,
            "Invalid Condition value for Null: maybe.",
        ),
        (doc({**ALLOW_ALL, "Condition": "x"}), PolicyKind.IDENTITY, "Syntax errors in policy."),
    ],
)
def test_invalid_documents(text, kind, message):
    with pytest.raises(MalformedPolicyDocumentError) as info:
        parse_policy(text, kind=kind)
    assert info.value.message == message


def test_missing_version_is_legacy_without_variables():
    legacy = parse_policy(
        doc({**ALLOW_ALL, "Resource": "arn:aws:s3:::b/${aws:username}"}, version=None)
    )
    assert legacy.version == "2008-10-17"
    assert not legacy.supports_variables
    # the variable is literal text in a legacy document
    assert legacy.statements[0].matches_resource("arn:aws:s3:::b/${aws:username}")


def test_trust_policy_parses_principals():
    trust = parse_policy(
        doc(
            {
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Principal": {
                    "Service": ["imagebuilder.amazonaws.com"],
                    "AWS": ["123456789012", "arn:aws:iam::111122223333:role/x"],
                },
            }
        ),
        kind=PolicyKind.TRUST,
    )
    spec = trust.statements[0].principal
    assert spec is not None
    assert spec.service == ("imagebuilder.amazonaws.com",)
    assert spec.aws == ("123456789012", "arn:aws:iam::111122223333:role/x")


def test_condition_operators_case_insensitive_and_bool_values():
    policy = parse_policy(
        doc(
            {
                **ALLOW_ALL,
                "Condition": {
                    "stringequals": {"k": "v"},
                    "Bool": {"aws:SecureTransport": True},
                    "forallvalues:StringLikeIfExists": {"aws:TagKeys": ["a*"]},
                },
            }
        )
    )
    ops = [c.operator for c in policy.statements[0].conditions]
    assert [o.base for o in ops] == ["StringEquals", "Bool", "StringLike"]
    assert ops[2].if_exists and ops[2].qualifier is not None
    assert policy.statements[0].conditions[1].values[0].source == "true"
