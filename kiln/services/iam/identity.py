"""Identity as the rest of Kiln sees it: the principal behind a credential, the policies that
apply to it, and how a request's SigV4 key material is looked up."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kiln.auth.secretbox import SecretBox
from kiln.core.arn import Arn
from kiln.iam import PolicyDocument, PolicyKind, Principal, managed_policy, parse_policy
from kiln.store import iam as store
from kiln.store.schema import CredentialRow, IamEntityRow


@dataclass(frozen=True)
class StoredPolicy:
    """A policy attached to or embedded in a principal, parsed for evaluation."""

    name: str
    document: PolicyDocument


def principal_for(session: Session, credential: CredentialRow) -> Principal:
    """The principal a credential acts as."""
    if credential.kind == "session" and credential.role_arn:
        role = store.entity_by_arn(session, credential.role_arn)
        role_name = credential.role_arn.rsplit("/", 1)[-1]
        return Principal.assumed_role(
            credential.account,
            role_name,
            credential.session_name or "session",
            role_path=role.path if role else "/",
            role_id=role.entity_id if role else None,
        )
    if credential.user_name is None:
        return Principal.root(credential.account)
    user = store.entity(
        session, account=credential.account, kind=store.USER, name=credential.user_name
    )
    return Principal.user(
        credential.account,
        credential.user_name,
        path=user.path if user else "/",
        user_id=user.entity_id if user else None,
    )


def identity_policies(session: Session, principal: Principal) -> list[StoredPolicy]:
    """Managed and inline policies of a user, or of the role behind a role session."""
    row: IamEntityRow | None = None
    if principal.username:
        row = store.entity(
            session, account=principal.account_id, kind=store.USER, name=principal.username
        )
    elif principal.role_arn:
        row = store.entity_by_arn(session, principal.role_arn)
    return entity_policies(session, row) if row is not None else []


def entity_policies(session: Session, row: IamEntityRow) -> list[StoredPolicy]:
    policies = []
    for arn in row.body.get("attachedPolicies", []):
        document = managed_document(session, arn)
        if document is not None:
            policies.append(StoredPolicy(arn, document))
    for name, text in sorted(row.body.get("inlinePolicies", {}).items()):
        policies.append(StoredPolicy(name, parse_policy(text, kind=PolicyKind.IDENTITY)))
    return policies


def managed_document(session: Session, arn: str) -> PolicyDocument | None:
    """The default version of an AWS managed or customer managed policy."""
    shipped = managed_policy(arn)
    if shipped is not None:
        return shipped.document
    row = store.entity_by_arn(session, arn)
    if row is None or row.kind != store.POLICY:
        return None
    default = row.body.get("defaultVersionId")
    for version in row.body.get("versions", []):
        if version["versionId"] == default:
            return parse_policy(version["document"], kind=PolicyKind.IDENTITY)
    return None


def session_token_matches(credential: CredentialRow, token: str | None) -> bool:
    if credential.session_token_sha256 is None:
        return token is None
    if token is None:
        return False
    digest = hashlib.sha256(token.encode()).hexdigest()
    return hmac.compare_digest(digest, credential.session_token_sha256)


def usable(credential: CredentialRow, now: dt.datetime) -> bool:
    if credential.status != "Active":
        return False
    expires = credential.expires_at
    if expires is not None:
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if expires <= now:
            return False
    return True


def reveal(box: SecretBox, credential: CredentialRow) -> str:
    return box.open(credential.secret_encrypted)


def role_name_of(arn: str) -> str:
    return Arn.parse(arn).resource.rsplit("/", 1)[-1]


def dumps(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))
