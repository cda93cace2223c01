"""The resource ARN an API request acts on, for IAM authorisation.

Reads and changes name their resource by an ARN member; creations name the resource they will
make from `name` (and `semanticVersion`); list calls act on `*`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kiln.core.arn import PARTITION, Arn, imagebuilder_arn
from kiln.services.ec2 import launch_templates
from kiln.store import iam as iam_store

_ARN_MEMBERS = (
    "resourceArn",
    "componentBuildVersionArn",
    "componentVersionArn",
    "componentArn",
    "imageBuildVersionArn",
    "imageArn",
    "imageRecipeArn",
    "containerRecipeArn",
    "imagePipelineArn",
    "infrastructureConfigurationArn",
    "distributionConfigurationArn",
    "workflowBuildVersionArn",
    "workflowVersionArn",
    "lifecyclePolicyArn",
    "sourceImage",
)
_CREATED = {
    "CreateComponent": "component",
    "ImportComponent": "component",
    "CreateImageRecipe": "image-recipe",
    "CreateContainerRecipe": "container-recipe",
    "CreateInfrastructureConfiguration": "infrastructure-configuration",
    "CreateDistributionConfiguration": "distribution-configuration",
    "CreateImagePipeline": "image-pipeline",
    "CreateLifecyclePolicy": "lifecycle-policy",
    "CreateWorkflow": "workflow",
    "ImportVmImage": "image",
    "ImportDiskImage": "image",
}
_IAM_MEMBERS = (
    ("UserName", iam_store.USER, "user"),
    ("RoleName", iam_store.ROLE, "role"),
    ("InstanceProfileName", iam_store.INSTANCE_PROFILE, "instance-profile"),
)


def request_resource(
    session: Session,
    *,
    service: str,
    operation: str,
    params: dict[str, Any],
    account: str,
    region: str,
) -> str:
    if service == "imagebuilder":
        return _imagebuilder(operation, params, account=account, region=region)
    if service == "iam":
        return _iam(session, params, account=account)
    if service == "sts" and isinstance(params.get("RoleArn"), str):
        return str(params["RoleArn"])
    if service == "ec2" and "LaunchTemplate" in operation:
        arn = launch_templates.request_arn(
            session, operation=operation, params=params, account=account, region=region
        )
        return arn or "*"
    if service == "ec2":
        return _ec2(params, account=account, region=region)
    return "*"


def _imagebuilder(operation: str, params: dict[str, Any], *, account: str, region: str) -> str:
    created = _CREATED.get(operation)
    if created is not None and isinstance(params.get("name"), str):
        kind = str(params.get("type", "build")).lower() if created == "workflow" else None
        version = params.get("semanticVersion")
        try:
            arn = imagebuilder_arn(
                region=region,
                account=account,
                resource_type=created,
                name=params["name"],
                version=version if isinstance(version, str) else None,
                kind=kind,
            )
        except ValueError:  # a bad version: the service answers for it; authorise on the name
            arn = imagebuilder_arn(
                region=region,
                account=account,
                resource_type=created,
                name=params["name"],
                kind=kind,
            )
        return str(arn)
    for member in _ARN_MEMBERS:
        value = params.get(member)
        if isinstance(value, str) and value.startswith("arn:"):
            return value
    return "*"


# EC2 resource ids by prefix: (resource type node, whether the ARN names the account). Image
# ARNs have no account node, as AWS forms them: arn:aws:ec2:REGION::image/ami-...
_EC2_RESOURCES = {
    "ami-": ("image", False),
}


def ec2_resource_arn(resource_id: str, *, account: str, region: str) -> str | None:
    """The ARN of an EC2 resource id Kiln keeps (None for an id of another kind)."""
    for prefix, (node, owned) in _EC2_RESOURCES.items():
        if resource_id.startswith(prefix):
            arn = Arn(PARTITION, "ec2", region, account if owned else "", f"{node}/{resource_id}")
            return str(arn)
    return None


def _ec2(params: dict[str, Any], *, account: str, region: str) -> str:
    """The image (or other resource) a call names; CopyImage acts on its source image. A call
    naming several resources (CreateTags, DeleteTags) is authorised on `*`: a policy must then
    allow them all."""
    source, source_region = params.get("SourceImageId"), params.get("SourceRegion")
    if isinstance(source, str) and isinstance(source_region, str):
        return ec2_resource_arn(source, account=account, region=source_region) or "*"
    named = params.get("ImageId")
    if isinstance(named, str):
        return ec2_resource_arn(named, account=account, region=region) or "*"
    resources = params.get("Resources")
    if isinstance(resources, list) and len(resources) == 1 and isinstance(resources[0], str):
        return ec2_resource_arn(resources[0], account=account, region=region) or "*"
    return "*"


def _iam(session: Session, params: dict[str, Any], *, account: str) -> str:
    """The user, role or instance profile a call acts on (attach/detach included), else the
    policy it names, else `*`."""
    for member, kind, node in _IAM_MEMBERS:
        name = params.get(member)
        if isinstance(name, str):
            row = iam_store.entity(session, account=account, kind=kind, name=name)
            path = row.path if row is not None else "/"
            return str(Arn(PARTITION, "iam", "", account, f"{node}{path}{name}"))
    if isinstance(params.get("PolicyArn"), str):
        return str(params["PolicyArn"])
    return "*"
