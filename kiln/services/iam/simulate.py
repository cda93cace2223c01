"""SimulatePrincipalPolicy: what IAM would decide for a user or role, action by resource.

The principal's attached and inline policies (plus any PolicyInputList documents, minus the
PolicyExclusionList) go through kiln.iam.evaluate with its permissions boundary (or the
PermissionsBoundaryPolicyInputList) and an optional ResourcePolicy. Each result names the
deciding statement's policy in MatchedStatements (SourcePolicyId: the managed policy's name, the
inline policy's name, or `PolicyInputList.N`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiln.iam import (
    AuthorizationRequest,
    Decision,
    Outcome,
    PolicyDocument,
    PolicyKind,
    Principal,
    evaluate,
    managed_policy,
    parse_policy,
)
from kiln.services.context import RequestContext
from kiln.services.iam import lookup
from kiln.services.iam.boundaries import boundary_of
from kiln.services.iam.errors import InvalidInputException, NoSuchEntityException
from kiln.services.iam.identity import managed_document
from kiln.services.iam.paging import page
from kiln.store import iam as store
from kiln.store.schema import IamEntityRow

_DECISIONS = {
    Outcome.ALLOWED: "allowed",
    Outcome.EXPLICIT_DENY: "explicitDeny",
    Outcome.IMPLICIT_DENY: "implicitDeny",
}


@dataclass(frozen=True)
class _Source:
    """A policy taking part in the simulation; `name` is the key the decision reports."""

    name: str
    document: PolicyDocument
    source_id: str
    source_type: str


def _identity_sources(ctx: RequestContext, row: IamEntityRow, excluded: set[str]) -> list[_Source]:
    sources: list[_Source] = []
    for arn in row.body.get("attachedPolicies", []):
        policy_name = arn.rsplit("/", 1)[-1]
        document = managed_document(ctx.session, arn)
        if document is None or arn in excluded or policy_name in excluded:
            continue
        kind = "aws-managed" if managed_policy(arn) else "user-managed"
        sources.append(_Source(f"#{len(sources)}", document, policy_name, kind))
    for name, text in sorted(row.body.get("inlinePolicies", {}).items()):
        if name not in excluded:
            document = parse_policy(text, kind=PolicyKind.IDENTITY)
            sources.append(_Source(f"#{len(sources)}", document, name, row.kind))
    return sources


def _principal(ctx: RequestContext, arn: str) -> tuple[IamEntityRow, Principal]:
    lookup.parse_arn(arn)
    row = store.entity_by_arn(ctx.session, arn)
    if row is None or row.account != ctx.account or row.kind not in (store.USER, store.ROLE):
        raise NoSuchEntityException(f"The entity {arn} cannot be found.")
    if row.kind == store.USER:
        return row, Principal.user(row.account, row.name, path=row.path, user_id=row.entity_id)
    return row, Principal.role(row.account, row.name, path=row.path, role_id=row.entity_id)


def _boundary(ctx: RequestContext, row: IamEntityRow, given: list[str]) -> PolicyDocument | None:
    if given:
        if len(given) > 1:
            raise InvalidInputException("Only one permissions boundary policy can be simulated.")
        return parse_policy(given[0], kind=PolicyKind.IDENTITY)
    return boundary_of(ctx.session, row)


def _context(entries: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    context: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        name = entry["ContextKeyName"]
        context[name] = context.get(name, ()) + tuple(entry.get("ContextKeyValues", []))
    return context


def _result(decision: Decision, sources: dict[str, _Source]) -> dict[str, Any]:
    matched = []
    if decision.statement is not None:
        source = sources.get(decision.statement.policy)
        matched.append(
            {"SourcePolicyId": source.source_id, "SourcePolicyType": source.source_type}
            if source
            else {"SourcePolicyId": decision.statement.policy, "SourcePolicyType": "resource"}
        )
    return {
        "EvalActionName": decision.action,
        "EvalResourceName": decision.resource,
        "EvalDecision": _DECISIONS[decision.outcome],
        "MatchedStatements": matched,
        "MissingContextValues": [],
    }


def simulate_principal_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row, principal = _principal(ctx, params["PolicySourceArn"])
    sources = _identity_sources(ctx, row, set(params.get("PolicyExclusionList", [])))
    for i, text in enumerate(params.get("PolicyInputList", []), start=1):
        document = parse_policy(text, kind=PolicyKind.IDENTITY)
        sources.append(_Source(f"#{len(sources)}", document, f"PolicyInputList.{i}", "none"))
    boundary = _boundary(ctx, row, params.get("PermissionsBoundaryPolicyInputList", []))
    resource_text = params.get("ResourcePolicy")
    resource_policy = (
        parse_policy(resource_text, kind=PolicyKind.RESOURCE) if resource_text else None
    )
    context = _context(params.get("ContextEntries", []))
    owner = params.get("ResourceOwner")
    if owner and owner.startswith("arn:"):
        owner = lookup.parse_arn(owner).account
    by_name = {s.name: s for s in sources}
    results = []
    for action in params["ActionNames"]:
        for resource in params.get("ResourceArns") or ["*"]:
            request = AuthorizationRequest(action, resource, principal, context, now=ctx.now)
            decision = evaluate(
                request,
                identity_policies=sources,
                resource_policy=resource_policy,
                resource_account=owner,
                permissions_boundary=boundary,
            )
            results.append(_result(decision, by_name))
    items, marker = page(ctx, "SimulatePrincipalPolicy", results, params)
    return {"EvaluationResults": items, "IsTruncated": marker is not None, "Marker": marker}
