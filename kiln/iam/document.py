"""Policy documents: parse and validate identity, resource and trust policies.

`parse_policy(text, kind=...)` returns a `PolicyDocument` of `Statement`s ready to evaluate, or
raises `MalformedPolicyDocumentError` (AWS code MalformedPolicyDocument, HTTP 400) with the reason
IAM gives for the same document. Matching rules live with the statement: Action/NotAction are
case-insensitive globs, Resource/NotResource case-sensitive globs over the whole ARN (a `*` spans
`:` and `/`), policy variables in Resource and condition values when Version is 2012-10-17.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from kiln.core.errors import ClientError
from kiln.iam.conditions import (
    Condition,
    ConditionSyntaxError,
    conditions_hold,
    parse_conditions,
)
from kiln.iam.pattern import Lookup, Pattern
from kiln.iam.principal import InvalidPrincipalError, Principal, PrincipalSpec

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"

_SYNTAX = "Syntax errors in policy."
_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    }
)
_ACTION = re.compile(r"[A-Za-z0-9*?_.-]+:[A-Za-z0-9*?_.-]*")
_SID = re.compile(r"[0-9A-Za-z]*")


class MalformedPolicyDocumentError(ClientError):
    """The policy document is not valid; `message` is IAM's reason."""

    code = "MalformedPolicyDocument"
    status = 400


class PolicyKind(StrEnum):
    """Where a document is used; it decides which elements are required or prohibited."""

    IDENTITY = "identity"
    RESOURCE = "resource"
    TRUST = "trust"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True)
class Statement:
    """One statement; exactly one of each Action/NotAction pair is set (the other is None)."""

    index: int
    effect: Effect
    sid: str | None = None
    actions: tuple[Pattern, ...] | None = None
    not_actions: tuple[Pattern, ...] | None = None
    resources: tuple[Pattern, ...] | None = None
    not_resources: tuple[Pattern, ...] | None = None
    principal: PrincipalSpec | None = None
    not_principal: PrincipalSpec | None = None
    conditions: tuple[Condition, ...] = ()

    @property
    def label(self) -> str:
        return f"statement #{self.index}" + (f" ({self.sid})" if self.sid else "")

    def matches_action(self, action: str) -> bool:
        if self.actions is not None:
            return any(p.matches(action, ignore_case=True) for p in self.actions)
        assert self.not_actions is not None
        return not any(p.matches(action, ignore_case=True) for p in self.not_actions)

    def matches_resource(self, resource: str, lookup: Lookup | None = None) -> bool:
        if self.resources is not None:
            return any(p.matches(resource, lookup) for p in self.resources)
        if self.not_resources is not None:
            return not any(p.matches(resource, lookup) for p in self.not_resources)
        return True

    def matches_principal(self, principal: Principal) -> bool:
        if self.principal is not None:
            return self.principal.matches(principal)
        if self.not_principal is not None:
            return not self.not_principal.matches(principal)
        return True

    def conditions_hold(self, lookup: Lookup) -> bool:
        return conditions_hold(self.conditions, lookup)


@dataclass(frozen=True)
class PolicyDocument:
    version: str
    statements: tuple[Statement, ...]
    kind: PolicyKind = PolicyKind.IDENTITY
    id: str | None = None

    @property
    def supports_variables(self) -> bool:
        return self.version == VERSION_2012


def parse_policy(
    document: str | Mapping[str, object], *, kind: PolicyKind = PolicyKind.IDENTITY
) -> PolicyDocument:
    """Parse a policy document (JSON text or an already decoded object) and validate it."""
    raw: object
    if isinstance(document, str):
        try:
            raw = json.loads(document)
        except ValueError as exc:
            raise MalformedPolicyDocumentError(_SYNTAX) from exc
    else:
        raw = document
    if not isinstance(raw, Mapping) or not set(raw) <= _TOP_LEVEL:
        raise MalformedPolicyDocumentError(_SYNTAX)
    version = raw.get("Version", VERSION_2008)
    if version not in (VERSION_2012, VERSION_2008):
        raise MalformedPolicyDocumentError("Policy document must be version 2012-10-17 or greater.")
    policy_id = raw.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicyDocumentError(_SYNTAX)
    if "Statement" not in raw:
        raise MalformedPolicyDocumentError(_SYNTAX)
    body = raw["Statement"]
    items = [body] if isinstance(body, Mapping) else body
    if not isinstance(items, list) or not items:
        raise MalformedPolicyDocumentError(_SYNTAX)
    variables = version == VERSION_2012
    statements = tuple(
        _parse_statement(item, index=i, kind=kind, variables=variables)
        for i, item in enumerate(items)
    )
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyDocumentError("Statement IDs (SID) in a single policy must be unique.")
    return PolicyDocument(str(version), statements, kind, policy_id)


def _strings(value: object) -> list[str] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return None
    return list(items)


def _exclusive(stmt: Mapping[str, object], positive: str, negative: str) -> str | None:
    if positive in stmt and negative in stmt:
        raise MalformedPolicyDocumentError(_SYNTAX)
    return positive if positive in stmt else negative if negative in stmt else None


def _parse_statement(item: object, *, index: int, kind: PolicyKind, variables: bool) -> Statement:
    if not isinstance(item, Mapping) or not set(item) <= _STATEMENT_KEYS:
        raise MalformedPolicyDocumentError(_SYNTAX)
    sid = item.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyDocumentError(_SYNTAX)
    if sid and kind is PolicyKind.IDENTITY and not _SID.fullmatch(sid):
        raise MalformedPolicyDocumentError(
            "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the "
            "regular expression [0-9A-Za-z]*"
        )
    if "Effect" not in item:
        raise MalformedPolicyDocumentError("Missing required field Effect")
    effect = item["Effect"]
    if effect not in (Effect.ALLOW, Effect.DENY):
        raise MalformedPolicyDocumentError(_SYNTAX)
    actions, not_actions = _actions(item, kind)
    resources, not_resources = _resources(item, kind, variables)
    principal, not_principal = _principals(item, kind)
    conditions: tuple[Condition, ...] = ()
    if "Condition" in item:
        try:
            conditions = parse_conditions(item["Condition"], variables=variables)
        except ConditionSyntaxError as exc:
            raise MalformedPolicyDocumentError(str(exc)) from exc
    return Statement(
        index=index,
        effect=Effect(str(effect)),
        sid=sid or None,
        actions=actions,
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        principal=principal,
        not_principal=not_principal,
        conditions=conditions,
    )


_Pair = tuple[tuple[Pattern, ...] | None, tuple[Pattern, ...] | None]


def _actions(item: Mapping[str, object], kind: PolicyKind) -> _Pair:
    element = _exclusive(item, "Action", "NotAction")
    if element is None:
        raise MalformedPolicyDocumentError("Policy statement must contain actions.")
    values = _strings(item[element])
    if values is None:
        raise MalformedPolicyDocumentError(_SYNTAX)
    if not values:
        raise MalformedPolicyDocumentError("Policy statement must contain actions.")
    for value in values:
        if value != "*" and not _ACTION.fullmatch(value):
            raise MalformedPolicyDocumentError(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
            )
        if kind is PolicyKind.TRUST and value != "*" and value.split(":")[0].lower() != "sts":
            raise MalformedPolicyDocumentError(
                "AssumeRole policy may only specify STS AssumeRole actions."
            )
    patterns = tuple(Pattern.parse(v) for v in values)
    return (patterns, None) if element == "Action" else (None, patterns)


def _resources(item: Mapping[str, object], kind: PolicyKind, variables: bool) -> _Pair:
    element = _exclusive(item, "Resource", "NotResource")
    if kind is PolicyKind.TRUST:
        if element is not None:
            raise MalformedPolicyDocumentError(f"Has prohibited field {element}")
        return None, None
    if element is None:
        raise MalformedPolicyDocumentError("Policy statement must contain resources.")
    values = _strings(item[element])
    if values is None:
        raise MalformedPolicyDocumentError(_SYNTAX)
    if not values:
        raise MalformedPolicyDocumentError("Policy statement must contain resources.")
    for value in values:
        if value != "*" and not (value.startswith("arn:") and value.count(":") >= 5):
            raise MalformedPolicyDocumentError(f'Resource {value} must be in ARN format or "*".')
    patterns = tuple(Pattern.parse(v, variables=variables) for v in values)
    return (patterns, None) if element == "Resource" else (None, patterns)


def _principals(
    item: Mapping[str, object], kind: PolicyKind
) -> tuple[PrincipalSpec | None, PrincipalSpec | None]:
    element = _exclusive(item, "Principal", "NotPrincipal")
    if kind is PolicyKind.IDENTITY:
        if element is not None:
            raise MalformedPolicyDocumentError("Policy document should not specify a principal.")
        return None, None
    if element is None:
        raise MalformedPolicyDocumentError("Missing required field Principal")
    try:
        spec = PrincipalSpec.parse(item[element])
    except InvalidPrincipalError as exc:
        raise MalformedPolicyDocumentError(str(exc)) from exc
    return (spec, None) if element == "Principal" else (None, spec)
