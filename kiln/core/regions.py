"""The AWS regions Kiln knows: where a distribution may send an image.

The standard table is the commercial partition (`aws`). A deployment configures its own set with
KILN_REGIONS (fewer regions, or private names for sites of its own, shaped like region names);
every function here takes that set as `configured` and falls back to the standard table when it
is None. Requests signed for a region outside the set are refused at authentication, and a
distribution configuration naming one is refused when it is created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "COMMERCIAL_REGIONS",
    "Region",
    "is_known_region",
    "known_regions",
    "valid_region_name",
]


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    description: str


COMMERCIAL_REGIONS: tuple[Region, ...] = (
    Region("us-east-1", "US East (N. Virginia)"),
    Region("us-east-2", "US East (Ohio)"),
    Region("us-west-1", "US West (N. California)"),
    Region("us-west-2", "US West (Oregon)"),
    Region("af-south-1", "Africa (Cape Town)"),
    Region("ap-east-1", "Asia Pacific (Hong Kong)"),
    Region("ap-east-2", "Asia Pacific (Taipei)"),
    Region("ap-south-1", "Asia Pacific (Mumbai)"),
    Region("ap-south-2", "Asia Pacific (Hyderabad)"),
    Region("ap-southeast-1", "Asia Pacific (Singapore)"),
    Region("ap-southeast-2", "Asia Pacific (Sydney)"),
    Region("ap-southeast-3", "Asia Pacific (Jakarta)"),
    Region("ap-southeast-4", "Asia Pacific (Melbourne)"),
    Region("ap-southeast-5", "Asia Pacific (Malaysia)"),
    Region("ap-southeast-6", "Asia Pacific (New Zealand)"),
    Region("ap-southeast-7", "Asia Pacific (Thailand)"),
    Region("ap-northeast-1", "Asia Pacific (Tokyo)"),
    Region("ap-northeast-2", "Asia Pacific (Seoul)"),
    Region("ap-northeast-3", "Asia Pacific (Osaka)"),
    Region("ca-central-1", "Canada (Central)"),
    Region("ca-west-1", "Canada West (Calgary)"),
    Region("eu-central-1", "Europe (Frankfurt)"),
    Region("eu-central-2", "Europe (Zurich)"),
    Region("eu-west-1", "Europe (Ireland)"),
    Region("eu-west-2", "Europe (London)"),
    Region("eu-west-3", "Europe (Paris)"),
    Region("eu-south-1", "Europe (Milan)"),
    Region("eu-south-2", "Europe (Spain)"),
    Region("eu-north-1", "Europe (Stockholm)"),
    Region("il-central-1", "Israel (Tel Aviv)"),
    Region("me-south-1", "Middle East (Bahrain)"),
    Region("me-central-1", "Middle East (UAE)"),
    Region("mx-central-1", "Mexico (Central)"),
    Region("sa-east-1", "South America (Sao Paulo)"),
)

_STANDARD = frozenset(region.name for region in COMMERCIAL_REGIONS)
_NAME = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


def valid_region_name(name: str) -> bool:
    """Shaped like an AWS region name (`us-east-1`, `eu-central-2`, a site's `xx-site-1`)."""
    return bool(_NAME.match(name))


def known_regions(configured: Iterable[str] | None = None) -> frozenset[str]:
    """The region names this deployment serves: `configured`, or the standard table."""
    if configured is None:
        return _STANDARD
    return frozenset(configured)


def is_known_region(name: str, configured: Iterable[str] | None = None) -> bool:
    return name in known_regions(configured)
