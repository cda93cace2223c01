"""Roles that Image Builder resources hand to the service: the infrastructure configuration's
instance profile (its role goes to EC2), a pipeline's or lifecycle policy's execution role
(it goes to Image Builder). They must exist in the caller's account, and the caller must be
allowed `iam:PassRole` on them, as AWS checks when the resource is created or updated."""

from __future__ import annotations

from kiln.core.arn import Arn, ArnError
from kiln.iam import AuthorizationRequest, PrincipalType, evaluate
from kiln.services.context import RequestContext
from kiln.services.iam.identity import identity_policies
from kiln.services.imagebuilder.errors import AccessDeniedException, InvalidParameterValueException
from kiln.store import iam as iam_store
from kiln.store.schema import IamEntityRow

EC2_SERVICE = "ec2.amazonaws.com"
IMAGEBUILDER_SERVICE = "imagebuilder.amazonaws.com"


def require_instance_profile(ctx: RequestContext, name: str) -> IamEntityRow:
    """The instance profile, existing, with a role the caller may pass to EC2."""
    profile = iam_store.entity(
        ctx.session, account=ctx.account, kind=iam_store.INSTANCE_PROFILE, name=name
    )
    if profile is None:
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'instanceProfileName' is not valid. The instance "
            f"profile '{name}' does not exist in account {ctx.account}."
        )
    for role_name in profile.body.get("roles") or []:
        role = iam_store.entity(
            ctx.session, account=ctx.account, kind=iam_store.ROLE, name=role_name
        )
        if role is not None:
            require_pass(ctx, role, service=EC2_SERVICE)
    return profile


def require_execution_role(ctx: RequestContext, name_or_arn: str, *, member: str) -> IamEntityRow:
    """A role given by name or ARN, existing in the caller's account, passable to the service."""
    name = name_or_arn
    account = ctx.account
    if name_or_arn.startswith("arn:"):
        try:
            arn = Arn.parse(name_or_arn)
        except ArnError as exc:
            raise InvalidParameterValueException(str(exc)) from exc
        account, name = arn.account, arn.resource.rsplit("/", 1)[-1]
    role = iam_store.entity(ctx.session, account=account, kind=iam_store.ROLE, name=name)
    if role is None or account != ctx.account:
        raise InvalidParameterValueException(
            f"The value supplied for parameter '{member}' is not valid. The role "
            f"'{name_or_arn}' does not exist in account {ctx.account}."
        )
    require_pass(ctx, role, service=IMAGEBUILDER_SERVICE)
    return role


def require_pass(ctx: RequestContext, role: IamEntityRow, *, service: str) -> None:
    principal = ctx.caller.principal
    if principal is None or principal.type is PrincipalType.ROOT:
        return
    decision = evaluate(
        AuthorizationRequest(
            action="iam:PassRole",
            resource=role.arn,
            principal=principal,
            context={"iam:PassedToService": (service,)},
        ),
        identity_policies=identity_policies(ctx.session, principal),
    )
    if not decision.allowed:
        raise AccessDeniedException(
            f"User: {principal.arn} is not authorized to perform: iam:PassRole on resource: "
            f"{role.arn} (the role would be passed to {service})."
        )
