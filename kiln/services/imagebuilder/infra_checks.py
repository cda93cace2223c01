"""Checks of an infrastructure configuration's members beyond what the model validates:
instance types, the S3 logging bucket, placement, and the build instance's network.

Network members (subnetId, securityGroupIds) are stored as given: the model declares no
InvalidParameterCombinationException for these operations, and EC2 launches into the default
VPC when only security groups are given.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
)

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_instance_types(instance_types: Sequence[str] | None) -> None:
    seen: set[str] = set()
    for name in instance_types or []:
        if not _INSTANCE_TYPE.match(name):
            raise InvalidParameterValueException(
                f"'{name}' is not an instance type (family.size, for example t3.micro)."
            )
        if name in seen:
            raise InvalidParameterValueException(f"The instance type '{name}' is listed twice.")
        seen.add(name)


def check_bucket_name(name: str, *, member: str) -> None:
    """S3's general purpose bucket naming rules."""
    problem = None
    if not _BUCKET.match(name):
        problem = (
            "3 to 63 lowercase letters, digits, dots and hyphens, beginning and ending with a "
            "letter or digit"
        )
    elif ".." in name or ".-" in name or "-." in name:
        problem = "no two adjacent periods, and no period next to a hyphen"
    elif _is_ip_address(name):
        problem = "not formatted as an IP address"
    elif name.startswith("xn--") or name.endswith("-s3alias"):
        problem = "not starting with xn-- or ending with -s3alias"
    if problem:
        raise InvalidParameterValueException(
            f"{member} '{name}' is not a valid S3 bucket name: it must be {problem}."
        )


def check_logging(logging: dict[str, Any] | None) -> None:
    s3_logs = (logging or {}).get("s3Logs")
    if not s3_logs:
        return
    bucket = s3_logs.get("s3BucketName")
    if bucket is None:
        raise InvalidParameterValueException(
            "logging.s3Logs needs s3BucketName, the bucket the build logs are written to."
        )
    check_bucket_name(bucket, member="logging.s3Logs.s3BucketName")
    # IAM: log uploads are authorised against the instance profile's role for s3:PutObject on
    # arn:aws:s3:::BUCKET/PREFIX/* when a build runs (the role may change after this call).


def check_placement(placement: dict[str, Any] | None, *, region: str) -> None:
    if not placement:
        return
    zone = placement.get("availabilityZone")
    if zone is not None and not (zone.startswith(region) and len(zone) > len(region)):
        raise InvalidParameterValueException(
            f"The Availability Zone '{zone}' is not in this region ({region})."
        )
    host_id, group = placement.get("hostId"), placement.get("hostResourceGroupArn")
    if host_id and group:
        raise InvalidParameterCombinationException(
            "Specify either placement.hostId or placement.hostResourceGroupArn, not both."
        )
    if (host_id or group) and placement.get("tenancy") != "host":
        member = "hostId" if host_id else "hostResourceGroupArn"
        raise InvalidParameterCombinationException(
            f"placement.{member} applies only to tenancy 'host'; set placement.tenancy to host."
        )


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True
