"""The prerequisites AWS documents, checked before a build launches anything.

The infrastructure configuration's instance profile must exist in the image's account and hold
a role, and that role must be allowed what the build instance does: fetch its components
(`imagebuilder:GetComponent`), register its agent (`ssm:UpdateInstanceInformation`), open its
agent channels, and for container builds fetch the recipe and push to the repository. Each
missing permission is reported with the action, the resource and the managed policy that grants
it. Log uploads are authorised separately, object by object (`s3:PutObject`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kiln.core.errors import BuildError
from kiln.iam import AuthorizationRequest, Principal, evaluate
from kiln.services.iam.identity import entity_policies
from kiln.store import iam as iam_store
from kiln.store.schema import IamEntityRow

EC2_PROFILE = "EC2InstanceProfileForImageBuilder"
ECR_PROFILE = "EC2InstanceProfileForImageBuilderECRContainerBuilds"
SSM_CORE = "AmazonSSMManagedInstanceCore"


@dataclass(frozen=True)
class Requirement:
    action: str
    resource: str
    granted_by: str


def requirements(
    *, container: bool, component_arns: Iterable[str], recipe_arn: str | None
) -> list[Requirement]:
    """What the build instance's role must be allowed, for this build."""
    profile = ECR_PROFILE if container else EC2_PROFILE
    needed = [Requirement("imagebuilder:GetComponent", arn, profile) for arn in component_arns]
    needed += [
        Requirement("ssm:UpdateInstanceInformation", "*", SSM_CORE),
        Requirement("ssmmessages:CreateControlChannel", "*", SSM_CORE),
        Requirement("ec2messages:GetMessages", "*", SSM_CORE),
    ]
    if container:
        if recipe_arn:
            needed.append(Requirement("imagebuilder:GetContainerRecipe", recipe_arn, ECR_PROFILE))
        needed += [
            Requirement("ecr:GetAuthorizationToken", "*", ECR_PROFILE),
            Requirement("ecr:PutImage", "*", ECR_PROFILE),
        ]
    return needed


def instance_role(session: Session, *, account: str, profile_name: str | None) -> IamEntityRow:
    """The role of the instance profile, or a BuildError saying what to create."""
    if not profile_name:
        raise BuildError("The infrastructure configuration names no instance profile.")
    profile = iam_store.entity(
        session, account=account, kind=iam_store.INSTANCE_PROFILE, name=profile_name
    )
    if profile is None:
        raise BuildError(
            f"The instance profile '{profile_name}' does not exist in account {account}. "
            f"Create it (aws iam create-instance-profile) and add a role that holds "
            f"{EC2_PROFILE} (or {ECR_PROFILE} for container builds) and {SSM_CORE}."
        )
    roles = profile.body.get("roles") or []
    role = (
        iam_store.entity(session, account=account, kind=iam_store.ROLE, name=roles[0])
        if roles
        else None
    )
    if role is None:
        raise BuildError(
            f"The instance profile '{profile_name}' holds no role. Add one with "
            "aws iam add-role-to-instance-profile."
        )
    return role


def check(session: Session, role: IamEntityRow, needed: Iterable[Requirement]) -> None:
    """BuildError listing every requirement the role is not allowed."""
    principal = Principal.role(role.account, role.name, path=role.path, role_id=role.entity_id)
    policies = entity_policies(session, role)
    missing = [
        item
        for item in needed
        if not evaluate(
            AuthorizationRequest(action=item.action, resource=item.resource, principal=principal),
            identity_policies=policies,
        ).allowed
    ]
    if missing:
        listed = "; ".join(
            f"{m.action} on {m.resource} (granted by {m.granted_by})" for m in missing
        )
        raise BuildError(
            f"The instance profile role '{role.name}' is not allowed what the build needs: "
            f"{listed}. Attach the managed policies named to the role."
        )


def role_may(session: Session, role: IamEntityRow, *, action: str, resource: str) -> bool:
    """Whether the role's own policies allow `action` on `resource`."""
    principal = Principal.role(role.account, role.name, path=role.path, role_id=role.entity_id)
    decision = evaluate(
        AuthorizationRequest(action=action, resource=resource, principal=principal),
        identity_policies=entity_policies(session, role),
    )
    return decision.allowed


def may_put_log(session: Session, role: IamEntityRow, *, bucket: str, key: str) -> str | None:
    """None when the role may write the log object; else the AccessDenied message."""
    object_arn = f"arn:aws:s3:::{bucket}/{key}"
    if role_may(session, role, action="s3:PutObject", resource=object_arn):
        return None
    return (
        f"AccessDenied: the instance profile role '{role.name}' is not allowed s3:PutObject on "
        f"{object_arn}; grant it on arn:aws:s3:::{bucket}/* to upload build logs."
    )
