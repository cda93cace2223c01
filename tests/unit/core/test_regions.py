from __future__ import annotations

import botocore.session

from kiln.core.regions import COMMERCIAL_REGIONS, is_known_region, known_regions


def test_standard_table_is_the_commercial_partition():
    endpoints = botocore.session.get_session().get_data("endpoints")
    aws = next(p for p in endpoints["partitions"] if p["partition"] == "aws")
    names = [region.name for region in COMMERCIAL_REGIONS]
    assert len(names) == len(set(names))
    assert set(names) <= set(aws["regions"])
    assert {"us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"} <= known_regions()


def test_known_regions():
    assert is_known_region("us-east-1")
    assert not is_known_region("us-east-9")
    assert not is_known_region("cn-north-1")  # another partition
    assert not is_known_region("US-EAST-1")


def test_a_configured_set_replaces_the_standard_table():
    configured = ["us-east-1", "site-lab-1"]
    assert known_regions(configured) == frozenset(configured)
    assert is_known_region("site-lab-1", configured)
    assert not is_known_region("eu-west-1", configured)
    assert not is_known_region("eu-west-1", [])
