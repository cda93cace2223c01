"""STS sessions: GetCallerIdentity, and AssumeRole with the decision IAM makes.

AssumeRole is allowed when the role's trust policy allows the caller (kiln.iam.evaluate_trust,
with `sts:ExternalId`, `sts:RoleSessionName` and `sts:SourceIdentity` as context keys) and, unless
the trust policy names the caller (or its role) itself within the role's own account, an identity
policy of the caller allows `sts:AssumeRole` on the role (within its permissions boundary); an
explicit Deny in either refuses. A
missing role is refused the same way, with AccessDenied, so existence does not leak.

Credentials: an `ASIA…` key whose secret is sealed with ctx.box and whose session token is kept
only as its SHA-256 (CredentialRow kind "session"), valid DurationSeconds (900 up to the role's
MaxSessionDuration; one hour when a role session assumes another role).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from kiln.core.errors import ClientError
from kiln.iam import (
    AuthorizationRequest,
    Outcome,
    PolicyDocument,
    PolicyKind,
    Principal,
    PrincipalType,
    evaluate,
    evaluate_trust,
    parse_policy,
)
from kiln.services.context import RequestContext
from kiln.services.iam import ids, lookup
from kiln.services.iam.boundaries import principal_boundary
from kiln.services.iam.errors import ValidationError
from kiln.services.iam.identity import identity_policies
from kiln.services.iam.keys import secret_box
from kiln.store import iam as store
from kiln.store.schema import CredentialRow, IamEntityRow

ASSUME_ROLE = "sts:AssumeRole"
DEFAULT_DURATION = 3600
CHAINED_MAX = 3600
_UNSUPPORTED = (
    "Policy",
    "PolicyArns",
    "Tags",
    "TransitiveTagKeys",
    "SerialNumber",
    "TokenCode",
    "ProvidedContexts",
)


class AccessDenied(ClientError):
    code = "AccessDenied"
    status = 403


def get_caller_identity(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    principal = lookup.caller(ctx)
    return {
        "UserId": principal.user_id or principal.account_id,
        "Account": principal.account_id,
        "Arn": principal.arn,
    }


def assume_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    caller = lookup.caller(ctx)
    unsupported = [name for name in _UNSUPPORTED if params.get(name)]
    if unsupported:
        raise ValidationError(
            f"Kiln's AssumeRole does not support {', '.join(unsupported)}; "
            "send the request without them."
        )
    role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
    role = store.entity_by_arn(ctx.session, role_arn)
    if role is None or role.kind != store.ROLE or not _may_assume(ctx, caller, role, params):
        raise AccessDenied(
            f"User: {caller.arn} is not authorized to perform: {ASSUME_ROLE} on resource: "
            f"{role_arn}"
        )
    duration = _duration(caller, role, params.get("DurationSeconds"))
    session = Principal.assumed_role(
        role.account, role.name, session_name, role_path=role.path, role_id=role.entity_id
    )
    secret, token = ids.secret_access_key(), ids.session_token()
    expires = ctx.now + dt.timedelta(seconds=duration)
    credential = store.add_credential(
        ctx.session,
        CredentialRow(
            access_key_id=ids.access_key_id(ids.SESSION_KEY_PREFIX),
            account=role.account,
            kind="session",
            user_name=None,
            role_arn=role.arn,
            session_name=session_name,
            secret_encrypted=secret_box(ctx).seal(secret),
            session_token_sha256=hashlib.sha256(token.encode()).hexdigest(),
            status="Active",
            created_at=ctx.now,
            expires_at=expires,
        ),
    )
    role.body = {**role.body, "lastUsed": {"date": ctx.now.isoformat(), "region": ctx.region}}
    return {
        "Credentials": {
            "AccessKeyId": credential.access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expires,
        },
        "AssumedRoleUser": {"AssumedRoleId": session.user_id, "Arn": session.arn},
        "SourceIdentity": params.get("SourceIdentity"),
    }


def _may_assume(
    ctx: RequestContext, caller: Principal, role: IamEntityRow, params: dict[str, Any]
) -> bool:
    trust = parse_policy(role.body["assumeRolePolicyDocument"], kind=PolicyKind.TRUST)
    context = {
        key: value
        for key, value in (
            ("sts:ExternalId", params.get("ExternalId")),
            ("sts:RoleSessionName", params.get("RoleSessionName")),
            ("sts:SourceIdentity", params.get("SourceIdentity")),
        )
        if value
    }
    if not evaluate_trust(trust, principal=caller, context=context, role_arn=role.arn):
        return False
    request = AuthorizationRequest(ASSUME_ROLE, role.arn, caller, context, now=ctx.now)
    identity = evaluate(
        request,
        identity_policies=identity_policies(ctx.session, caller),
        permissions_boundary=principal_boundary(ctx.session, caller),
        resource_account=caller.account_id,
    )
    if identity.allowed:
        return True
    named = role.account == caller.account_id and _names(trust, caller)
    return named and identity.outcome is not Outcome.EXPLICIT_DENY


def _names(trust: PolicyDocument, caller: Principal) -> bool:
    """Does an Allow statement for sts:AssumeRole name the caller (not just its account)?"""
    own = {caller.arn, caller.role_arn} - {None}
    for statement in trust.statements:
        if statement.effect != "Allow" or not statement.matches_action(ASSUME_ROLE):
            continue
        spec = statement.principal
        if spec is not None and (spec.everyone or "*" in spec.aws or own & set(spec.aws)):
            return True
    return False


def _duration(caller: Principal, role: IamEntityRow, requested: int | None) -> int:
    duration = requested or DEFAULT_DURATION
    if caller.type is PrincipalType.ASSUMED_ROLE and duration > CHAINED_MAX:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
            "by role chaining."
        )
    if duration > int(role.body.get("maxSessionDuration", DEFAULT_DURATION)):
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return duration
