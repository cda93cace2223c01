"""Finding the IAM entities a request names, with IAM's errors when they are not there."""

from __future__ import annotations

from kiln.core.arn import Arn, ArnError
from kiln.iam import Principal, PrincipalType
from kiln.services.context import RequestContext
from kiln.services.iam.errors import (
    EntityAlreadyExistsException,
    InvalidInputException,
    NoSuchEntityException,
    UnmodifiableEntityException,
    ValidationError,
)
from kiln.store import iam as store
from kiln.store.schema import IamEntityRow

_MISSING = {
    store.USER: "The user with name {} cannot be found.",
    store.ROLE: "The role with name {} cannot be found.",
    store.INSTANCE_PROFILE: "Instance Profile {} cannot be found.",
}
_TAKEN = {
    store.USER: "User with name {} already exists.",
    store.ROLE: "Role with name {} already exists.",
    store.INSTANCE_PROFILE: "Instance Profile {} already exists.",
    store.POLICY: "A policy called {} already exists. Duplicate names are not allowed.",
}


def require(ctx: RequestContext, kind: str, name: str) -> IamEntityRow:
    row = store.entity(ctx.session, account=ctx.account, kind=kind, name=name)
    if row is None:
        raise NoSuchEntityException(_MISSING[kind].format(name))
    return row


def user(ctx: RequestContext, name: str) -> IamEntityRow:
    return require(ctx, store.USER, name)


def role(ctx: RequestContext, name: str) -> IamEntityRow:
    return require(ctx, store.ROLE, name)


def instance_profile(ctx: RequestContext, name: str) -> IamEntityRow:
    return require(ctx, store.INSTANCE_PROFILE, name)


def ensure_absent(ctx: RequestContext, kind: str, name: str) -> None:
    if store.entity(ctx.session, account=ctx.account, kind=kind, name=name) is not None:
        raise EntityAlreadyExistsException(_TAKEN[kind].format(name))


def modifiable_role(ctx: RequestContext, name: str) -> IamEntityRow:
    """A role the caller may change: service-linked roles are only modifiable by their service."""
    row = role(ctx, name)
    if row.body.get("awsServiceName"):
        raise UnmodifiableEntityException(
            f"Cannot perform the operation on the protected role '{row.name}' - "
            "this role is only modifiable by AWS"
        )
    return row


def parse_arn(text: str) -> Arn:
    try:
        return Arn.parse(text)
    except ArnError as exc:
        raise InvalidInputException(f"ARN {text} is not valid.") from exc


def caller(ctx: RequestContext) -> Principal:
    return ctx.caller.principal or Principal.root(ctx.account)


def caller_user_name(ctx: RequestContext, given: str | None) -> str:
    """`UserName` when given, else the calling IAM user's name (IAM's default for key calls)."""
    if given:
        return given
    principal = caller(ctx)
    if principal.type is PrincipalType.USER and principal.username:
        return principal.username
    raise ValidationError("Must specify userName when calling with non-User credentials")
