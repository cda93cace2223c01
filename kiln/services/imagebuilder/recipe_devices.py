"""Block device mappings of recipes (image recipes, and container recipes' instance
configuration): the EBS rules EC2 applies when the build instance is launched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kiln.services.imagebuilder.errors import InvalidParameterValueException

_IOPS_TYPES = frozenset({"io1", "io2", "gp3"})
_THROUGHPUT_TYPES = frozenset({"gp3"})


def check_block_device_mappings(mappings: Sequence[dict[str, Any]] | None) -> None:
    seen: set[str] = set()
    for mapping in mappings or []:
        device = mapping.get("deviceName")
        if device is not None:
            if device in seen:
                raise InvalidParameterValueException(
                    f"The device name '{device}' appears in more than one block device mapping."
                )
            seen.add(device)
        shown = device or "(unnamed)"
        kinds = [key for key in ("ebs", "virtualName", "noDevice") if key in mapping]
        if len(kinds) > 1:
            raise InvalidParameterValueException(
                f"The block device mapping of {shown} sets {' and '.join(kinds)}; "
                "a mapping is an EBS volume, an instance store volume or noDevice, only one."
            )
        if "ebs" in mapping:
            _check_ebs(shown, mapping["ebs"])


def _check_ebs(device: str, ebs: dict[str, Any]) -> None:
    volume_type = ebs.get("volumeType")
    if "iops" in ebs and volume_type not in _IOPS_TYPES:
        raise InvalidParameterValueException(
            f"The EBS volume of {device}: iops can only be set for volume types "
            f"{', '.join(sorted(_IOPS_TYPES))}, not {volume_type or 'the default type'}."
        )
    if "throughput" in ebs and volume_type not in _THROUGHPUT_TYPES:
        raise InvalidParameterValueException(
            f"The EBS volume of {device}: throughput can only be set for gp3 volumes, "
            f"not {volume_type or 'the default type'}."
        )
    if volume_type in ("io1", "io2") and "iops" not in ebs:
        raise InvalidParameterValueException(
            f"The EBS volume of {device}: {volume_type} volumes need iops."
        )
