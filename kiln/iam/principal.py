"""Principals: who makes a request, and the `Principal` element that names them in a policy.

Matching follows the IAM JSON reference: an account id or `arn:aws:iam::ID:root` stands for every
principal of that account; a role ARN also matches the sessions of that role; a user, role or
session ARN otherwise matches exactly; `{"Service": ...}` matches a service principal by name;
`"*"` matches everyone and `{"AWS": "*"}` every AWS principal (not services).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from kiln.core.arn import PARTITION, Arn, ArnError

_ACCOUNT_ID = re.compile(r"\d{12}")
_KNOWN_KINDS = ("AWS", "Service", "Federated", "CanonicalUser")


class PrincipalType(StrEnum):
    """The value of `aws:PrincipalType` for each kind of caller."""

    USER = "User"
    ROLE = "Role"
    ASSUMED_ROLE = "AssumedRole"
    ROOT = "Account"
    SERVICE = "Service"
    FEDERATED = "FederatedUser"
    ANONYMOUS = "Anonymous"


def _iam_arn(account_id: str, resource: str) -> str:
    return str(Arn(PARTITION, "iam", "", account_id, resource))


def _norm_path(path: str) -> str:
    return "/" if path in ("", "/") else "/" + path.strip("/") + "/"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. For a service, `arn` is its name (`imagebuilder.amazonaws.com`)."""

    type: PrincipalType
    account_id: str
    arn: str
    username: str | None = None
    user_id: str | None = None
    role_arn: str | None = None
    """For an assumed-role session: the ARN of the role it is a session of."""

    @classmethod
    def root(cls, account_id: str) -> Principal:
        return cls(PrincipalType.ROOT, account_id, _iam_arn(account_id, "root"), user_id=account_id)

    @classmethod
    def user(
        cls, account_id: str, name: str, *, path: str = "/", user_id: str | None = None
    ) -> Principal:
        arn = _iam_arn(account_id, f"user{_norm_path(path)}{name}")
        return cls(PrincipalType.USER, account_id, arn, username=name, user_id=user_id)

    @classmethod
    def role(
        cls, account_id: str, name: str, *, path: str = "/", role_id: str | None = None
    ) -> Principal:
        arn = _iam_arn(account_id, f"role{_norm_path(path)}{name}")
        return cls(PrincipalType.ROLE, account_id, arn, user_id=role_id, role_arn=arn)

    @classmethod
    def assumed_role(
        cls,
        account_id: str,
        role_name: str,
        session_name: str,
        *,
        role_path: str = "/",
        role_id: str | None = None,
    ) -> Principal:
        session_arn = str(
            Arn(PARTITION, "sts", "", account_id, f"assumed-role/{role_name}/{session_name}")
        )
        role_arn = _iam_arn(account_id, f"role{_norm_path(role_path)}{role_name}")
        user_id = f"{role_id}:{session_name}" if role_id else None
        return cls(
            PrincipalType.ASSUMED_ROLE, account_id, session_arn, user_id=user_id, role_arn=role_arn
        )

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls(PrincipalType.SERVICE, "", name)

    @property
    def principal_arn(self) -> str:
        """`aws:PrincipalArn`: the role ARN for a role session, otherwise the caller's ARN."""
        if self.type is PrincipalType.ASSUMED_ROLE and self.role_arn:
            return self.role_arn
        return self.arn


class InvalidPrincipalError(ValueError):
    """A `Principal` element value is not an account, an IAM/STS ARN, a service or `*`."""


@dataclass(frozen=True)
class PrincipalSpec:
    """A parsed `Principal` / `NotPrincipal` element."""

    everyone: bool = False
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: object) -> PrincipalSpec:
        """Parse the JSON value; raises InvalidPrincipalError with AWS's wording."""
        if value == "*":
            return cls(everyone=True)
        if not isinstance(value, Mapping) or not value:
            raise InvalidPrincipalError(f"Invalid principal in policy: {_render(value)}")
        found: dict[str, tuple[str, ...]] = {}
        for kind, raw in value.items():
            if kind not in _KNOWN_KINDS:
                raise InvalidPrincipalError(f'Invalid principal in policy: "{kind}"')
            items = (raw,) if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not items:
                raise InvalidPrincipalError(f'Invalid principal in policy: "{kind}":{_render(raw)}')
            for item in items:
                if not isinstance(item, str) or (kind == "AWS" and not _valid_aws(item)):
                    raise InvalidPrincipalError(
                        f'Invalid principal in policy: "{kind}":{_render(item)}'
                    )
                if kind == "Service" and not item:
                    raise InvalidPrincipalError('Invalid principal in policy: "Service":""')
            found[kind] = tuple(items)
        return cls(
            aws=found.get("AWS", ()),
            service=found.get("Service", ()),
            federated=found.get("Federated", ()),
            canonical_user=found.get("CanonicalUser", ()),
        )

    def matches(self, principal: Principal) -> bool:
        if self.everyone:
            return True
        if principal.type is PrincipalType.SERVICE:
            return principal.arn in self.service
        if principal.type is PrincipalType.FEDERATED:
            return principal.arn in self.federated
        return any(_aws_matches(entry, principal) for entry in self.aws)


def _render(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _valid_aws(entry: str) -> bool:
    if entry == "*" or _ACCOUNT_ID.fullmatch(entry):
        return True
    try:
        arn = Arn.parse(entry)
    except ArnError:
        return False
    return arn.service in ("iam", "sts") and bool(_ACCOUNT_ID.fullmatch(arn.account))


def _aws_matches(entry: str, principal: Principal) -> bool:
    if entry == "*":
        return principal.type is not PrincipalType.ANONYMOUS
    if _ACCOUNT_ID.fullmatch(entry):
        return entry == principal.account_id
    if entry == _iam_arn(principal.account_id, "root"):
        return True
    if entry == principal.arn:
        return True
    return principal.type is PrincipalType.ASSUMED_ROLE and entry == principal.role_arn
