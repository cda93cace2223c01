"""The AWS-managed workflow documents (owner ``aws``), shipped as YAML data in ``data/``.

``build-image``, ``test-image``, ``build-container``, ``test-container`` and
``distribute-container`` are the names AWS publishes; ``distribute-image`` is Kiln's, for the
AMI distribution the service performs when a pipeline names no distribution workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

from kiln.workflow.actions import WorkflowType
from kiln.workflow.document import WorkflowDocument, parse_workflow

__all__ = ["MANAGED_WORKFLOWS", "ManagedWorkflow", "managed_workflow", "managed_workflows"]

MANAGED_VERSION = "1.0.0"
MANAGED_WORKFLOWS: Mapping[str, WorkflowType] = MappingProxyType(
    {
        "build-image": WorkflowType.BUILD,
        "build-container": WorkflowType.BUILD,
        "test-image": WorkflowType.TEST,
        "test-container": WorkflowType.TEST,
        "distribute-container": WorkflowType.DISTRIBUTION,
        "distribute-image": WorkflowType.DISTRIBUTION,
    }
)


@dataclass(frozen=True, slots=True)
class ManagedWorkflow:
    name: str
    workflow_type: WorkflowType
    version: str
    data: str
    document: WorkflowDocument


def managed_workflow(name: str) -> ManagedWorkflow:
    """One managed workflow by name; KeyError if there is none."""
    return managed_workflows()[name]


@cache
def managed_workflows() -> Mapping[str, ManagedWorkflow]:
    """Every managed workflow, parsed and validated."""
    folder = resources.files("kiln.workflow") / "data"
    found: dict[str, ManagedWorkflow] = {}
    for name, kind in MANAGED_WORKFLOWS.items():
        data = (folder / f"{name}.yaml").read_text(encoding="utf-8")
        found[name] = ManagedWorkflow(
            name=name,
            workflow_type=kind,
            version=MANAGED_VERSION,
            data=data,
            document=parse_workflow(data, workflow_type=kind),
        )
    return MappingProxyType(found)
