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
        )
