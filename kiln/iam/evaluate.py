"""The IAM decision: explicit Deny wins, then an Allow, else the implicit deny.

Order (IAM User Guide, "Policy evaluation logic"):
1. any matching Deny in an identity policy, the resource policy, the permissions boundary or a
   session policy denies;
2. same account: an Allow in the identity policies or in the resource policy allows; across
   accounts (the principal's account is not the resource owner's) both must allow;
3. an Allow that comes from the identity policies must also be allowed by the permissions
   boundary and by every session policy when they are given (intersection). An Allow from a
   same-account resource policy stands on its own (simplification: AWS lets a session policy
   limit resource-policy grants to the role ARN but not to the session ARN);
4. the account's root user is allowed in its own account unless explicitly denied.
Organizations SCPs/RCPs are not modelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from kiln.iam.document import Effect, PolicyDocument, Statement
from kiln.iam.principal import Principal, PrincipalType
from kiln.iam.request import AuthorizationRequest, ContextInput

_ACCOUNT = re.compile(r"\d{12}")


class NamedPolicy(Protocol):
    """Anything with a name and a parsed document (ManagedPolicy, a stored inline policy, ...)."""

    @property
    def name(self) -> str: ...

    @property
    def document(self) -> PolicyDocument: ...


PolicyInput = PolicyDocument | NamedPolicy


class Outcome(StrEnum):
    ALLOWED = "Allowed"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


class PolicySource(StrEnum):
    IDENTITY = "identity policy"
    RESOURCE = "resource policy"
    BOUNDARY = "permissions boundary"
    SESSION = "session policy"
    TRUST = "trust policy"


@dataclass(frozen=True)
class StatementRef:
    """Which statement of which policy took part in a decision."""

    source: PolicySource
    policy: str
    index: int
    sid: str | None
    effect: Effect

    def describe(self) -> str:
        sid = f" (Sid {self.sid!r})" if self.sid else ""
        return f"statement #{self.index}{sid} of {self.source} {self.policy!r}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    outcome: Outcome
    action: str
    resource: str
    principal_arn: str
    statement: StatementRef | None = None
    reason: str = ""

    def explain(self) -> str:
        subject = f"{self.principal_arn} -> {self.action} on {self.resource}"
        if self.outcome is Outcome.EXPLICIT_DENY:
            assert self.statement is not None
            return f"Denied: {subject}: explicit Deny in {self.statement.describe()}."
        if self.outcome is Outcome.ALLOWED:
            by = self.statement.describe() if self.statement else self.reason
            return f"Allowed: {subject}: by {by}."
        return f"Denied: {subject}: implicit deny, {self.reason or 'no statement allows'}."

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class _Named:
    name: str
    document: PolicyDocument


def _named(policies: Iterable[PolicyInput], label: str) -> list[_Named]:
    out = []
    for i, policy in enumerate(policies):
        if isinstance(policy, PolicyDocument):
            out.append(_Named(policy.id or f"{label} #{i}", policy))
        else:
            out.append(_Named(policy.name, policy.document))
    return out


def _applies(statement: Statement, request: AuthorizationRequest, *, principal: bool) -> bool:
    lookup = request.value
    return (
        statement.matches_action(request.action)
        and statement.matches_resource(request.resource, lookup)
        and (not principal or statement.matches_principal(request.principal))
        and statement.conditions_hold(lookup)
    )


@dataclass(frozen=True)
class _Matches:
    deny: StatementRef | None
    allow: StatementRef | None


def _match(
    policies: Sequence[_Named],
    source: PolicySource,
    request: AuthorizationRequest,
    *,
    principal: bool = False,
) -> _Matches:
    deny: StatementRef | None = None
    allow: StatementRef | None = None
    for policy in policies:
        for st in policy.document.statements:
            if (st.effect is Effect.ALLOW and allow is not None) or (
                st.effect is Effect.DENY and deny is not None
            ):
                continue
            if _applies(st, request, principal=principal):
                ref = StatementRef(source, policy.name, st.index, st.sid, st.effect)
                if st.effect is Effect.DENY:
                    deny = ref
                else:
                    allow = ref
    return _Matches(deny, allow)


def _decision(
    request: AuthorizationRequest,
    outcome: Outcome,
    *,
    statement: StatementRef | None = None,
    reason: str = "",
) -> Decision:
    return Decision(
        allowed=outcome is Outcome.ALLOWED,
        outcome=outcome,
        action=request.action,
        resource=request.resource,
        principal_arn=request.principal.arn,
        statement=statement,
        reason=reason,
    )


def resource_owner(resource: str) -> str | None:
    """The account node of an ARN when it is a 12-digit account id."""
    parts = resource.split(":", 5)
    if len(parts) == 6 and _ACCOUNT.fullmatch(parts[4]):
        return parts[4]
    return None


def evaluate(
    request: AuthorizationRequest,
    *,
    identity_policies: Iterable[PolicyInput] = (),
    resource_policy: PolicyInput | None = None,
    resource_account: str | None = None,
    permissions_boundary: PolicyInput | None = None,
    session_policies: Iterable[PolicyInput] = (),
) -> Decision:
    """Decide `request`. `resource_account` defaults to the account node of the resource ARN."""
    identity = _match(_named(identity_policies, "identity policy"), PolicySource.IDENTITY, request)
    resource = _match(
        _named([resource_policy] if resource_policy else [], "resource policy"),
        PolicySource.RESOURCE,
        request,
        principal=True,
    )
    boundary = (
        _match(_named([permissions_boundary], "boundary"), PolicySource.BOUNDARY, request)
        if permissions_boundary is not None
        else None
    )
    sessions = [
        _match([p], PolicySource.SESSION, request)
        for p in _named(session_policies, "session policy")
    ]
    for found in (identity, resource, boundary, *sessions):
        if found is not None and found.deny is not None:
            return _decision(request, Outcome.EXPLICIT_DENY, statement=found.deny)

    principal = request.principal
    owner = resource_account or resource_owner(request.resource)
    same_account = owner is None or owner == principal.account_id
    is_root = principal.type is PrincipalType.ROOT
    identity_allow = identity.allow
    if identity_allow is None and is_root and same_account:
        identity_ok = True
    else:
        identity_ok = identity_allow is not None

    limit = ""
    if identity_ok and not is_root:
        if boundary is not None and boundary.allow is None:
            identity_ok = False
            limit = "the permissions boundary does not allow it"
        elif any(s.allow is None for s in sessions):
            identity_ok = False
            limit = "a session policy does not allow it"
    if same_account:
        if resource.allow is not None:
            return _decision(request, Outcome.ALLOWED, statement=resource.allow)
        if identity_ok:
            reason = "" if identity_allow else "the account root user"
            return _decision(request, Outcome.ALLOWED, statement=identity_allow, reason=reason)
        if identity_allow is not None:
            return _decision(request, Outcome.IMPLICIT_DENY, reason=limit)
        return _decision(request, Outcome.IMPLICIT_DENY, reason="no statement allows")
    if identity_ok and resource.allow is not None:
        return _decision(request, Outcome.ALLOWED, statement=resource.allow)
    if identity_ok:
        why = f"cross-account: the resource policy of account {owner} does not allow it"
    elif resource.allow is not None:
        why = f"cross-account: no identity policy of account {principal.account_id} allows it"
    else:
        why = "no statement allows"
    return _decision(request, Outcome.IMPLICIT_DENY, reason=why)


def evaluate_trust(
    trust_policy: PolicyInput,
    *,
    principal: Principal,
    action: str = "sts:AssumeRole",
    context: ContextInput | None = None,
    role_arn: str = "*",
) -> Decision:
    """May `principal` perform `action` (AssumeRole, TagSession, ...) on the role?

    Only the role's trust policy is consulted; a cross-account caller also needs an identity
    policy of its own allowing the action on `role_arn` (evaluate that with `evaluate`).
    """
    request = AuthorizationRequest(action, role_arn, principal, _context(context))
    found = _match(
        _named([trust_policy], "trust policy"), PolicySource.TRUST, request, principal=True
    )
    if found.deny is not None:
        return _decision(request, Outcome.EXPLICIT_DENY, statement=found.deny)
    if found.allow is not None:
        return _decision(request, Outcome.ALLOWED, statement=found.allow)
    return _decision(request, Outcome.IMPLICIT_DENY, reason="the trust policy does not allow it")


def _context(context: ContextInput | None) -> Mapping[str, tuple[str, ...]]:
    if not context:
        return {}
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in context.items()}
