"""EC2 instance types as resource limits for build instances.

The table holds AWS's published vCPU and memory for common families. A build instance gets the
type's memory as a hard limit and its vCPUs as a CPU quota, capped at what the host has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kiln.core.errors import BuildError


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int


@dataclass(frozen=True)
class ResourceLimits:
    cpus: float
    memory_mib: int


class UnknownInstanceTypeError(BuildError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown instance type {name!r}; Kiln knows {len(_TABLE)} types "
            f"in families {', '.join(sorted({n.split('.')[0] for n in _TABLE}))}"
        )
        self.name = name


_GIB = 1024

# Burstable families: size -> (vCPU, GiB).
_T2 = {
    "nano": (1, 0.5),
    "micro": (1, 1),
    "small": (1, 2),
    "medium": (2, 4),
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
}
_T3 = {
    "nano": (2, 0.5),
    "micro": (2, 1),
    "small": (2, 2),
    "medium": (2, 4),
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
}

# Fixed-ratio families: GiB per vCPU, and the sizes they come in (vCPU).
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}
_RATIO_FAMILIES = {
    "m5": 4,
    "m5a": 4,
    "m6i": 4,
    "m6a": 4,
    "m7i": 4,
    "c5": 2,
    "c5a": 2,
    "c6i": 2,
    "c6a": 2,
    "c7i": 2,
    "r5": 8,
    "r5a": 8,
    "r6i": 8,
    "r7i": 8,
}


def _build_table() -> dict[str, InstanceType]:
    table: dict[str, InstanceType] = {}
    for family, sizes in (("t2", _T2), ("t3", _T3), ("t3a", _T3)):
        for size, (vcpus, gib) in sizes.items():
            name = f"{family}.{size}"
            table[name] = InstanceType(name, vcpus, int(gib * _GIB))
    for family, gib_per_vcpu in _RATIO_FAMILIES.items():
        for size, vcpus in _SIZES.items():
            name = f"{family}.{size}"
            table[name] = InstanceType(name, vcpus, vcpus * gib_per_vcpu * _GIB)
    return table


_TABLE = _build_table()


def instance_type(name: str) -> InstanceType:
    try:
        return _TABLE[name]
    except KeyError:
        raise UnknownInstanceTypeError(name) from None


def known_instance_types() -> tuple[str, ...]:
    return tuple(sorted(_TABLE))


def resource_limits(name: str, *, host_cpus: int | None = None) -> ResourceLimits:
    """The limits for a build instance of type `name`; CPUs are capped at the host's count."""
    itype = instance_type(name)
    host = host_cpus or os.cpu_count() or 1
    return ResourceLimits(cpus=float(min(itype.vcpus, host)), memory_mib=itype.memory_mib)
