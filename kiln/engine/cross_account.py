"""The cross-account prerequisites: may Image Builder copy an AMI into account T, or act on
T's copy for a lifecycle policy?

AWS assumes `EC2ImageBuilderDistributionCrossAccountRole` in each target account. Kiln checks
the same three things before copying, each failure naming the account, the role and what is
missing:

1. the role exists in the target account;
2. its trust policy lets the distributing principal (the source account's service-linked role,
   or DistributeImage's execution role) assume it — the evaluation STS AssumeRole uses — and
   that principal's own policies allow `sts:AssumeRole` on it when it has any;
3. its permissions allow what `Ec2ImageBuilderCrossAccountDistributionAccess` allows:
   ec2:CopyImage, ec2:CreateTags, ec2:DescribeImages, ec2:ModifyImageAttribute.

A launch template configuration naming another account changes that account's template
through the same role (`check_launch_template_target`): steps 1 and 2, then the role must be
allowed ec2:CreateLaunchTemplateVersion (and ec2:ModifyLaunchTemplate to make the version the
default) on the template; the managed policy does not grant these.

Lifecycle actions on a copy another account owns go through
`Ec2ImageBuilderCrossAccountLifecycleAccess` in that account (`check_lifecycle_target`): it
exists, trusts the service `imagebuilder.amazonaws.com` for this source account and image
(the `aws:SourceAccount` and `aws:SourceArn` context the service sends), and its policies allow
the EC2 action on that AMI with the AMI's tags as `aws:ResourceTag/...` (as
`EC2ImageBuilderLifecycleExecutionPolicy` does for AMIs tagged `CreatedBy: EC2 Image Builder`).
`role_allows` is the same permission check for a role of the source account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kiln.core.arn import Arn, ArnError
from kiln.iam import (
    AuthorizationRequest,
    Outcome,
    PolicyKind,
    Principal,
    evaluate,
    evaluate_trust,
    parse_policy,
)
from kiln.services.iam.identity import entity_policies
from kiln.store import iam as iam_store
from kiln.store.schema import IamEntityRow

CROSS_ACCOUNT_ROLE = "EC2ImageBuilderDistributionCrossAccountRole"
MANAGED_POLICY = "Ec2ImageBuilderCrossAccountDistributionAccess"
LIFECYCLE_ROLE = "Ec2ImageBuilderCrossAccountLifecycleAccess"
LIFECYCLE_POLICY = "EC2ImageBuilderLifecycleExecutionPolicy"
IMAGEBUILDER_SERVICE = "imagebuilder.amazonaws.com"
SERVICE_LINKED_ROLE = "AWSServiceRoleForImageBuilder"
SERVICE_LINKED_PATH = "/aws-service-role/imagebuilder.amazonaws.com/"
ASSUME_ROLE = "sts:AssumeRole"
LAUNCH_TEMPLATE_ACTIONS = ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate")
REQUIRED_ACTIONS = (
    "ec2:CopyImage",
    "ec2:CreateTags",
    "ec2:DescribeImages",
    "ec2:ModifyImageAttribute",
)


@dataclass(frozen=True)
class CrossAccountDenial:
    """Why a distribution to `account` cannot run."""

    account: str
    role: str
    missing: str
    what: str = "Distribution to"

    @property
    def message(self) -> str:
        return (
            f"{self.what} account {self.account} failed: the role {self.role} in account "
            f"{self.account} {self.missing}."
        )


def distributing_principal(
    session: Session, *, account: str, execution_role: str | None = None
) -> Principal:
    """Who assumes the target roles: the execution role (name or ARN) when one is given, else
    the source account's service-linked role."""
    name, path = SERVICE_LINKED_ROLE, SERVICE_LINKED_PATH
    if execution_role:
        name, path = _role_name(execution_role), "/"
        row = iam_store.entity(session, account=account, kind=iam_store.ROLE, name=name)
        if row is not None:
            path = row.path
    return Principal.role(account, name, path=path)


def check_target(
    session: Session, *, source: Principal, target_account: str, region: str
) -> CrossAccountDenial | None:
    """None when `source` may distribute into `target_account` through its role."""
    role = _assumable_role(session, source=source, target_account=target_account)
    if isinstance(role, CrossAccountDenial):
        return role
    missing = _missing_actions(session, role, region)
    if missing:
        return CrossAccountDenial(
            target_account,
            role.arn,
            f"is not allowed {', '.join(missing)} (granted by {MANAGED_POLICY}; attach it to "
            "the role)",
        )
    return None


def check_launch_template_target(
    session: Session,
    *,
    source: Principal,
    target_account: str,
    template_arn: str,
    set_default: bool,
) -> CrossAccountDenial | None:
    """None when `source` may give `target_account`'s launch template a new version (and make
    it the default) through the account's distribution role. Its managed policy does not
    grant these: the role needs them in a policy of its own."""
    role = _assumable_role(session, source=source, target_account=target_account)
    if isinstance(role, CrossAccountDenial):
        return role
    wanted = [*LAUNCH_TEMPLATE_ACTIONS[: 2 if set_default else 1]]
    missing = [a for a in wanted if not role_allows(session, role, action=a, resource=template_arn)]
    if missing:
        return CrossAccountDenial(
            target_account,
            role.arn,
            f"is not allowed {', '.join(missing)} on {template_arn} (add a policy allowing "
            "them to the role)",
        )
    return None


def _assumable_role(
    session: Session, *, source: Principal, target_account: str
) -> IamEntityRow | CrossAccountDenial:
    """The target account's distribution role, if it exists and `source` may assume it."""
    role_arn = f"arn:aws:iam::{target_account}:role/{CROSS_ACCOUNT_ROLE}"
    role = iam_store.entity(
        session, account=target_account, kind=iam_store.ROLE, name=CROSS_ACCOUNT_ROLE
    )
    if role is None:
        return CrossAccountDenial(
            target_account,
            role_arn,
            "does not exist: create it with a trust policy that allows account "
            f"{source.account_id} and attach {MANAGED_POLICY}",
        )
    trust = parse_policy(role.body["assumeRolePolicyDocument"], kind=PolicyKind.TRUST)
    trusted = evaluate_trust(trust, principal=source, role_arn=role.arn)
    if not trusted.allowed:
        return CrossAccountDenial(
            target_account,
            role.arn,
            f"does not trust account {source.account_id}: its trust policy does not allow "
            f"{source.arn} to perform {ASSUME_ROLE}",
        )
    refused = _source_refuses(session, source, role)
    if refused:
        return CrossAccountDenial(target_account, role.arn, refused)
    return role


def check_lifecycle_target(
    session: Session,
    *,
    source_account: str,
    image_arn: str,
    target_account: str,
    action: str,
    image_resource: str,
    tags: Mapping[str, str],
) -> CrossAccountDenial | None:
    """None when Image Builder, for `image_arn` of `source_account`, may perform `action`
    (`ec2:DeregisterImage`...) on `image_resource`, an AMI `target_account` owns."""
    what = "Lifecycle action in"
    role_arn = f"arn:aws:iam::{target_account}:role/{LIFECYCLE_ROLE}"
    role = iam_store.entity(
        session, account=target_account, kind=iam_store.ROLE, name=LIFECYCLE_ROLE
    )
    if role is None:
        return CrossAccountDenial(
            target_account,
            role_arn,
            "does not exist: create it with a trust policy that allows the service "
            f"{IMAGEBUILDER_SERVICE} for source account {source_account} and attach "
            f"{LIFECYCLE_POLICY}",
            what,
        )
    trust = parse_policy(role.body["assumeRolePolicyDocument"], kind=PolicyKind.TRUST)
    context = {"aws:SourceAccount": source_account, "aws:SourceArn": image_arn}
    trusted = evaluate_trust(
        trust, principal=Principal.service(IMAGEBUILDER_SERVICE), role_arn=role.arn,
        context=context,
    )  # fmt: skip
    if not trusted.allowed:
        return CrossAccountDenial(
            target_account,
            role.arn,
            f"does not trust the service {IMAGEBUILDER_SERVICE} for source account "
            f"{source_account} and {image_arn}: its trust policy does not allow "
            f"{ASSUME_ROLE}",
            what,
        )
    if not role_allows(session, role, action=action, resource=image_resource, tags=tags):
        return CrossAccountDenial(
            target_account,
            role.arn,
            f"is not allowed {action} on {image_resource} (granted by {LIFECYCLE_POLICY} for "
            "AMIs tagged CreatedBy: EC2 Image Builder; attach it to the role)",
            what,
        )
    return None


def role_allows(
    session: Session,
    role: IamEntityRow,
    *,
    action: str,
    resource: str,
    tags: Mapping[str, str] | None = None,
) -> bool:
    """Whether the role's own policies allow `action` on `resource`, a resource carrying
    `tags` (seen as `aws:ResourceTag/<key>` and `ec2:ResourceTag/<key>`)."""
    context: dict[str, tuple[str, ...]] = {}
    for key, value in (tags or {}).items():
        context[f"aws:ResourceTag/{key}"] = (value,)
        context[f"ec2:ResourceTag/{key}"] = (value,)
    principal = Principal.role(role.account, role.name, path=role.path, role_id=role.entity_id)
    return evaluate(
        AuthorizationRequest(
            action=action, resource=resource, principal=principal, context=context
        ),
        identity_policies=entity_policies(session, role),
        resource_account=role.account,
    ).allowed


def _source_refuses(session: Session, source: Principal, role: IamEntityRow) -> str | None:
    """The distributing role's own policies must allow sts:AssumeRole on the target role
    (AWS's service-linked role policy does); a principal Kiln has no row for is the service."""
    row = iam_store.entity(
        session, account=source.account_id, kind=iam_store.ROLE, name=_role_name(source.arn)
    )
    if row is None:
        return None
    decision = evaluate(
        AuthorizationRequest(action=ASSUME_ROLE, resource=role.arn, principal=source),
        identity_policies=entity_policies(session, row),
        resource_account=source.account_id,
    )
    if decision.allowed:
        return None
    how = "denies" if decision.outcome is Outcome.EXPLICIT_DENY else "does not allow"
    return (
        f"cannot be assumed: the policies of {source.arn} in account {source.account_id} "
        f"{how} {ASSUME_ROLE} on it"
    )


def _missing_actions(session: Session, role: IamEntityRow, region: str) -> list[str]:
    images = f"arn:aws:ec2:{region}::image/*"
    return [
        action
        for action in REQUIRED_ACTIONS
        if not role_allows(session, role, action=action, resource=images)
    ]


def _role_name(name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        try:
            return Arn.parse(name_or_arn).resource.rsplit("/", 1)[-1]
        except ArnError:
            return name_or_arn.rsplit("/", 1)[-1]
    return name_or_arn
