"""The Image Builder service: one module per resource family, and the operation registry."""

from __future__ import annotations

from kiln.protocol.model import service_model
from kiln.services.dispatch import ServiceRegistry
from kiln.services.imagebuilder import (
    builds,
    component_imports,
    components,
    container_recipes,
    distribute_image,
    distribution,
    image_recipes,
    images,
    infrastructure,
    lifecycle,
    lifecycle_runs,
    marketplace,
    pipelines,
    policies,
    scan_findings,
    tags,
    vm_imports,
    workflows,
)

FAMILIES = (
    components,
    component_imports,
    image_recipes,
    container_recipes,
    infrastructure,
    distribution,
    distribute_image,
    pipelines,
    workflows,
    lifecycle,
    lifecycle_runs,
    images,
    policies,
    builds,
    scan_findings,
    marketplace,
    tags,
    vm_imports,
)

ISSUE_CONTROL_PLANE = "planned in issue #5, the complete Image Builder control plane"
ISSUE_BUILDS = "planned in issue #6, real builds with the workflow engine"
ISSUE_VM = "planned in issue #7, VM image builds"
ISSUE_DISTRIBUTION = "planned in issue #8, distribution across regions and accounts"

_BUILD_OPERATIONS = {
    "CreateImage",
    "StartImagePipelineExecution",
    "CancelImageCreation",
    "RetryImage",
    "GetWorkflowExecution",
    "ListWorkflowExecutions",
    "GetWorkflowStepExecution",
    "ListWorkflowStepExecutions",
    "ListWaitingWorkflowSteps",
    "SendWorkflowStepAction",
    "ListImagePackages",
}
_VM_OPERATIONS: set[str] = set()  # ImportVmImage, ImportDiskImage: vm_imports
_DISTRIBUTION_OPERATIONS: set[str] = set()


def _plan(operation: str) -> str:
    for names, issue in (
        (_BUILD_OPERATIONS, ISSUE_BUILDS),
        (_VM_OPERATIONS, ISSUE_VM),
        (_DISTRIBUTION_OPERATIONS, ISSUE_DISTRIBUTION),
    ):
        if operation in names:
            return issue
    return ISSUE_CONTROL_PLANE


def registry() -> ServiceRegistry:
    names = service_model("imagebuilder").operation_names
    return ServiceRegistry.collect(
        "imagebuilder", names, FAMILIES, planned={name: _plan(name) for name in names}
    )
