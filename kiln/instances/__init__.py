"""Build environments behind one port: `Launcher.launch(spec) -> Instance`."""

from kiln.instances.base import (
    Instance,
    InstanceError,
    Launcher,
    LaunchSpec,
    launched,
    new_instance_id,
)
from kiln.instances.types import (
    InstanceType,
    ResourceLimits,
    UnknownInstanceTypeError,
    instance_type,
    known_instance_types,
    resource_limits,
)

__all__ = [
    "Instance",
    "InstanceError",
    "InstanceType",
    "LaunchSpec",
    "Launcher",
    "ResourceLimits",
    "UnknownInstanceTypeError",
    "instance_type",
    "known_instance_types",
    "launched",
    "new_instance_id",
    "resource_limits",
]
