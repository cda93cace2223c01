"""The IAM policy engine: documents, conditions, the decision, and AWS managed policies.

Pure and I/O-free (managed policies are package data). Errors:

    ClientError
    └── MalformedPolicyDocumentError   code MalformedPolicyDocument, 400: the reason IAM gives
"""

from kiln.iam.document import (
    Effect,
    MalformedPolicyDocumentError,
    PolicyDocument,
    PolicyKind,
    Statement,
    parse_policy,
)
from kiln.iam.evaluate import (
    Decision,
    NamedPolicy,
    Outcome,
    PolicySource,
    StatementRef,
    evaluate,
    evaluate_trust,
)
from kiln.iam.managed import ManagedPolicy, managed_policies, managed_policy, managed_policy_arn
from kiln.iam.principal import Principal, PrincipalSpec, PrincipalType
from kiln.iam.request import AuthorizationRequest

__all__ = [
    "AuthorizationRequest",
    "Decision",
    "Effect",
    "MalformedPolicyDocumentError",
    "ManagedPolicy",
    "NamedPolicy",
    "Outcome",
    "PolicyDocument",
    "PolicyKind",
    "PolicySource",
    "Principal",
    "PrincipalSpec",
    "PrincipalType",
    "Statement",
    "StatementRef",
    "evaluate",
    "evaluate_trust",
    "managed_policies",
    "managed_policy",
    "managed_policy_arn",
    "parse_policy",
]
