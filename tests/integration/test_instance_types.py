from __future__ import annotations

import pytest

from kiln.instances.types import (
    UnknownInstanceTypeError,
    instance_type,
    known_instance_types,
    resource_limits,
)


@pytest.mark.parametrize(
    ("name", "vcpus", "memory_mib"),
    [
        ("t2.nano", 1, 512),
        ("t3.micro", 2, 1024),
        ("t3a.2xlarge", 8, 32768),
        ("m5.large", 2, 8192),
        ("m6i.2xlarge", 8, 32768),
        ("c5.xlarge", 4, 8192),
        ("c6i.large", 2, 4096),
        ("r5.large", 2, 16384),
    ],
)
def test_published_sizes(name: str, vcpus: int, memory_mib: int) -> None:
    itype = instance_type(name)
    assert (itype.vcpus, itype.memory_mib) == (vcpus, memory_mib)


def test_every_required_family_has_sizes() -> None:
    names = set(known_instance_types())
    for family in ("t2", "t3", "t3a"):
        for size in ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"):
            assert f"{family}.{size}" in names
    for family in ("m5", "m6i", "c5", "c6i", "r5"):
        for size in ("large", "xlarge", "2xlarge"):
            assert f"{family}.{size}" in names


def test_unknown_type_is_named() -> None:
    with pytest.raises(UnknownInstanceTypeError, match=r"'x9\.mega'") as info:
        instance_type("x9.mega")
    assert info.value.name == "x9.mega"


def test_cpu_limit_capped_at_host() -> None:
    limits = resource_limits("m5.2xlarge", host_cpus=2)
    assert limits.cpus == 2.0
    assert limits.memory_mib == 32768
    assert resource_limits("t2.micro", host_cpus=2).cpus == 1.0
