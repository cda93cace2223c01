"""The step-action catalog of Image Builder workflow documents, as one declarative table.

Timeouts are seconds. Sources: the wfdoc-step-actions page (14 actions) and the CDK
``WorkflowAction`` enum (17). AWS documents no inputs for the three distribution actions
(DistributeImage, ModifyImageAttributes, ApplyImageConfigurations): Kiln defines them here and
marks them ``open_inputs`` so that documents written for AWS are not refused over input names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = ["ACTIONS", "StepAction", "WorkflowType", "step_action"]


class WorkflowType(StrEnum):
    BUILD = "BUILD"
    TEST = "TEST"
    DISTRIBUTION = "DISTRIBUTION"


@dataclass(frozen=True, slots=True)
class StepAction:
    name: str
    workflow_types: frozenset[WorkflowType]
    default_timeout: int
    max_timeout: int
    required_inputs: frozenset[str] = frozenset()
    optional_inputs: frozenset[str] = frozenset()
    outputs: frozenset[str] = frozenset()
    supports_rollback: bool = False
    open_inputs: bool = False

    @property
    def inputs(self) -> frozenset[str]:
        return self.required_inputs | self.optional_inputs


MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_B, _T, _D = WorkflowType.BUILD, WorkflowType.TEST, WorkflowType.DISTRIBUTION
_RUN_OUTPUTS = frozenset({"runCommandId", "status", "output"})
_INSTANCE = frozenset({"instanceId"})


def _action(
    name: str,
    types: tuple[WorkflowType, ...],
    default: int,
    maximum: int,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    outputs: frozenset[str] | tuple[str, ...] = (),
    rollback: bool = False,
    open_inputs: bool = False,
) -> StepAction:
    return StepAction(
        name=name,
        workflow_types=frozenset(types),
        default_timeout=default,
        max_timeout=maximum,
        required_inputs=frozenset(required),
        optional_inputs=frozenset(optional),
        outputs=frozenset(outputs),
        supports_rollback=rollback,
        open_inputs=open_inputs,
    )


_CATALOG = (
    _action(
        "LaunchInstance", (_B, _T), HOUR, 12 * HOUR,
        required=("waitFor",), optional=("imageIdOverride", "instanceTypesOverride"),
        outputs=("instanceId", "instanceType"), rollback=True,
    ),
    _action(
        "ExecuteComponents", (_B, _T), 12 * HOUR, DAY,
        required=("instanceId",), outputs=_RUN_OUTPUTS,
    ),
    _action("CreateImage", (_B,), 12 * HOUR, DAY, required=("instanceId",), outputs=("imageId",)),
    _action("TerminateInstance", (_B, _T), 30 * MINUTE, 12 * HOUR, required=("instanceId",)),
    _action(
        "WaitForAction", (_B, _T, _D), 3 * DAY, 3 * DAY,
        optional=("snsTopicArn", "lambdaFunctionName", "payload"), outputs=("action", "reason"),
    ),
    _action(
        "RunCommand", (_B, _T), 12 * HOUR, DAY,
        required=("instanceId", "documentName"), optional=("parameters", "documentVersion"),
        outputs=_RUN_OUTPUTS,
    ),
    _action(
        "BootstrapInstanceForContainer", (_B, _T), HOUR, 12 * HOUR,
        required=("instanceId",), outputs=_RUN_OUTPUTS,
    ),
    _action(
        "CollectImageMetadata", (_B,), 30 * MINUTE, 12 * HOUR,
        required=("instanceId",), outputs=("osVersion", "associationId"), rollback=True,
    ),
    _action(
        "CollectImageScanFindings", (_T,), 2 * HOUR, 12 * HOUR,
        required=("instanceId",), outputs=_RUN_OUTPUTS,
    ),
    _action(
        "SanitizeInstance", (_B,), HOUR, 12 * HOUR, required=("instanceId",), outputs=_RUN_OUTPUTS
    ),
    _action("RunSysPrep", (_B,), HOUR, 12 * HOUR, required=("instanceId",), outputs=_RUN_OUTPUTS),
    _action(
        "RegisterImage", (_B,), 12 * HOUR, DAY,
        optional=(
            "architecture", "blockDeviceMapping", "bootMode", "description", "enaSupport",
            "imageLocation", "imdsSupport", "includeSnapshotTags", "kernelId", "ramdiskId",
            "rootDeviceName", "sriovNetSupport", "tpmSupport", "uefiData", "virtualizationType",
        ),
        outputs=("imageId",),
    ),
    _action(
        "ExecuteStateMachine", (_B, _T, _D), 6 * HOUR, DAY,
        required=("stateMachineArn",), optional=("input",), outputs=("executionArn",),
    ),
    _action(
        "WaitForSSMAgent", (_B, _T), HOUR, 3 * HOUR, required=("instanceId",), outputs=("Status",)
    ),
    _action(
        "DistributeImage", (_D,), 12 * HOUR, DAY,
        optional=("imageId", "distributionConfigurationArn", "regions"),
        outputs=("distributedImages",), open_inputs=True,
    ),
    _action(
        "ModifyImageAttributes", (_D,), HOUR, 12 * HOUR,
        optional=("imageId", "launchPermission"), open_inputs=True,
    ),
    _action(
        "ApplyImageConfigurations", (_D,), HOUR, 12 * HOUR,
        optional=("imageId", "ssmParameters", "launchTemplates"), open_inputs=True,
    ),
)  # fmt: skip

ACTIONS: Mapping[str, StepAction] = MappingProxyType({a.name: a for a in _CATALOG})


def step_action(name: str) -> StepAction | None:
    """The catalog entry for an action name (case-sensitive, as AWS reads it)."""
    return ACTIONS.get(name)
