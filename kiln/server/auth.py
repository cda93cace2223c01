"""Who is calling, and may they: SigV4 on every request, then IAM on every operation.

Authentication recomputes the request's signature with the secret Kiln holds for its access
key (kiln.auth). Authorisation evaluates `<service>:<Operation>` on the resource the request
names, with the caller's identity policies and, for another account's resource, the resource's
own policy (kiln.iam). Failures are AWS-shaped errors in the asking protocol's dialect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel
from sqlalchemy.orm import Session

from kiln.auth import (
    AuthenticationError,
    InvalidClientTokenId,
    SignedRequest,
    SigningKeyMaterial,
    verify,
)
from kiln.auth.secretbox import SecretBox
from kiln.core.errors import ClientError
from kiln.iam import AuthorizationRequest, Principal, PrincipalType, evaluate, parse_policy
from kiln.iam.document import PolicyKind
from kiln.protocol.base import WireRequest
from kiln.server.resources import request_resource
from kiln.services.iam.boundaries import principal_boundary
from kiln.services.iam.identity import identity_policies, principal_for, session_token_matches
from kiln.services.iam.identity import usable as credential_usable
from kiln.store import iam as iam_store
from kiln.store import resources as resource_store
from kiln.store.schema import CredentialRow

PROTOCOL_KINDS = {"imagebuilder": "rest-json", "iam": "query", "sts": "query", "ec2": "ec2"}
ACCESS_DENIED = {
    "imagebuilder": ("AccessDeniedException", 403),
    "ec2": ("UnauthorizedOperation", 403),
}
# GetCallerIdentity needs no permission; AssumeRole is decided by the role's trust policy
# together with the caller's policies inside the operation itself.
FREE_ACTIONS = frozenset({"sts:GetCallerIdentity", "sts:AssumeRole"})


@dataclass(frozen=True)
class _Key(SigningKeyMaterial):
    row: CredentialRow | None = None


def authenticate(
    session: Session,
    box: SecretBox,
    request: WireRequest,
    *,
    service: str,
    regions: Collection[str],
    now: dt.datetime,
) -> Principal:
    """The principal whose key signed the request, or an AuthenticationError in `service`'s
    protocol dialect."""

    def lookup(access_key_id: str) -> SigningKeyMaterial | None:
        row = iam_store.credential(session, access_key_id)
        if row is None or not credential_usable(row, now):
            return None
        return _Key(row.access_key_id, box.open(row.secret_encrypted), row)

    signed = SignedRequest(
        request.method, request.raw_path, request.raw_query, dict(request.headers), request.body
    )
    kind = PROTOCOL_KINDS.get(service, "rest-json")
    try:
        verified = verify(signed, lookup=lookup, service=service, region=regions, now=now)
        key = verified.key
        assert isinstance(key, _Key) and key.row is not None
        if not session_token_matches(key.row, verified.session_token):
            raise InvalidClientTokenId("The security token included in the request is invalid.")
    except AuthenticationError as exc:
        raise exc.for_protocol(kind) from exc
    return principal_for(session, key.row)


def authorize(
    session: Session,
    principal: Principal,
    *,
    service: str,
    operation: OperationModel,
    params: dict[str, Any],
    region: str,
) -> None:
    """Raise the service's AccessDenied error unless IAM allows the call."""
    action = f"{service}:{operation.name}"
    if principal.type is PrincipalType.ROOT or action in FREE_ACTIONS:
        return
    resource = request_resource(
        session,
        service=service,
        operation=operation.name,
        params=params,
        account=principal.account_id,
        region=region,
    )
    resource_policy, resource_account = _resource_policy(
        session, service, resource, caller_account=principal.account_id
    )
    decision = evaluate(
        AuthorizationRequest(action=action, resource=resource, principal=principal),
        identity_policies=identity_policies(session, principal),
        resource_policy=resource_policy,
        resource_account=resource_account,
        permissions_boundary=principal_boundary(session, principal),
    )
    if decision.allowed:
        return
    why = (
        f"with an explicit deny in {decision.reason}"
        if decision.outcome.name == "EXPLICIT_DENY"
        else f"because no identity-based policy allows the {action} action"
    )
    code, status = ACCESS_DENIED.get(service, ("AccessDenied", 403))
    raise ClientError(
        f"User: {principal.arn} is not authorized to perform: {action} on resource: "
        f"{resource} {why}",
        code=code,
        status=status,
    )


def _resource_policy(
    session: Session, service: str, resource: str, *, caller_account: str
) -> tuple[Any, str | None]:
    """The policy and owner of an Image Builder resource the request names.

    Amazon-managed resources (owner `aws`) are readable by every account, and a resource that
    does not exist is judged as the caller's own, so the service answers that it is not found.
    """
    if service != "imagebuilder" or resource == "*":
        return None, None
    row = resource_store.by_arn(session, resource)
    if row is None or row.owner == "aws":
        return None, caller_account
    policy = parse_policy(row.policy, kind=PolicyKind.RESOURCE) if row.policy else None
    return policy, row.owner
