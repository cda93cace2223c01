"""The BuildPlan: everything a build needs, resolved when the build is requested.

CreateImage and StartImagePipelineExecution resolve the recipe's components (wildcards to
build versions), the workflows (the user's or the AWS-managed defaults) and the infrastructure
and distribution settings once, and store the plan in the work item. The engine reads only the
plan and the image row, so a recipe edited or deleted mid-build changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedComponent:
    arn: str
    name: str
    data: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedWorkflow:
    type: str  # BUILD | TEST | DISTRIBUTION
    arn: str
    data: str
    parameters: dict[str, Any] = field(default_factory=dict)
    on_failure: str = "ABORT"
    parallel_group: str | None = None


@dataclass(frozen=True)
class ContainerTarget:
    region: str
    repository: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AmiTarget:
    """One region of a distribution configuration, for an AMI: the copy's name template,
    description, tags, KMS key, launch permission and the accounts that get their own copy
    (`amiDistributionConfiguration`), and the launch templates and SSM parameters to update."""

    region: str
    name: str | None = None
    description: str | None = None
    ami_tags: dict[str, str] = field(default_factory=dict)
    kms_key_id: str | None = None
    target_account_ids: tuple[str, ...] = ()
    launch_permission: dict[str, Any] = field(default_factory=dict)
    launch_templates: tuple[dict[str, Any], ...] = ()
    ssm_parameters: tuple[dict[str, Any], ...] = ()
    s3_export: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_distribution(cls, distribution: dict[str, Any]) -> AmiTarget:
        """The target of one `Distribution` of a distribution configuration."""
        ami = distribution.get("amiDistributionConfiguration") or {}
        return cls(
            region=str(distribution["region"]),
            name=ami.get("name"),
            description=ami.get("description"),
            ami_tags=dict(ami.get("amiTags") or {}),
            kms_key_id=ami.get("kmsKeyId"),
            target_account_ids=tuple(ami.get("targetAccountIds") or ()),
            launch_permission=dict(ami.get("launchPermission") or {}),
            launch_templates=tuple(distribution.get("launchTemplateConfigurations") or ()),
            ssm_parameters=tuple(distribution.get("ssmParameterConfigurations") or ()),
            s3_export=dict(distribution.get("s3ExportConfiguration") or {}),
        )

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> AmiTarget:
        return cls(
            region=data["region"],
            name=data.get("name"),
            description=data.get("description"),
            ami_tags=dict(data.get("ami_tags") or {}),
            kms_key_id=data.get("kms_key_id"),
            target_account_ids=tuple(data.get("target_account_ids") or ()),
            launch_permission=dict(data.get("launch_permission") or {}),
            launch_templates=tuple(data.get("launch_templates") or ()),
            ssm_parameters=tuple(data.get("ssm_parameters") or ()),
            s3_export=dict(data.get("s3_export") or {}),
        )


@dataclass(frozen=True)
class BuildPlan:
    image_type: str  # DOCKER | AMI
    parent_image: str
    components: tuple[PlannedComponent, ...]
    workflows: tuple[PlannedWorkflow, ...]
    dockerfile_template: str | None = None
    instance_types: tuple[str, ...] = ()
    terminate_on_failure: bool = True
    working_directory: str = "/tmp"
    platform: str = "Linux"
    container_targets: tuple[ContainerTarget, ...] = ()
    collect_metadata: bool = True
    instance_profile: str | None = None
    recipe_arn: str | None = None
    log_bucket: str | None = None
    log_prefix: str = ""
    scan_findings: bool = False
    """imageScanningConfiguration.imageScanningEnabled: the test workflow's
    CollectImageScanFindings step runs ($.imagebuilder.collectImageScanFindings)."""
    ami_targets: tuple[AmiTarget, ...] = ()
    source_ami: str | None = None
    """DistributeImage: the AMI to distribute (a build distributes the AMI it created)."""
    execution_role: str | None = None
    """The role that distributes (DistributeImage's executionRole); None: the service."""

    @property
    def distribution_only(self) -> bool:
        """DistributeImage: no instance is launched, so no instance profile is needed."""
        return self.source_ami is not None

    @property
    def is_container(self) -> bool:
        return self.image_type == "DOCKER"

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> BuildPlan:
        return cls(
            image_type=data["image_type"],
            parent_image=data["parent_image"],
            components=tuple(PlannedComponent(**c) for c in data["components"]),
            workflows=tuple(PlannedWorkflow(**w) for w in data["workflows"]),
            dockerfile_template=data.get("dockerfile_template"),
            instance_types=tuple(data.get("instance_types") or ()),
            terminate_on_failure=bool(data.get("terminate_on_failure", True)),
            working_directory=data.get("working_directory") or "/tmp",
            platform=data.get("platform") or "Linux",
            container_targets=tuple(
                ContainerTarget(t["region"], t["repository"], tuple(t.get("tags") or ()))
                for t in data.get("container_targets") or ()
            ),
            collect_metadata=bool(data.get("collect_metadata", True)),
            instance_profile=data.get("instance_profile"),
            recipe_arn=data.get("recipe_arn"),
            log_bucket=data.get("log_bucket"),
            log_prefix=data.get("log_prefix") or "",
            scan_findings=bool(data.get("scan_findings", False)),
            ami_targets=tuple(AmiTarget.from_payload(t) for t in data.get("ami_targets") or ()),
            source_ami=data.get("source_ami"),
            execution_role=data.get("execution_role"),
        )
