"""The Filters and pages of DescribeLaunchTemplates and DescribeLaunchTemplateVersions.

Filters match the rendered shapes through kiln.services.ec2.filters (wildcards, `tag:<key>`,
`tag-key`). Pages hold 1 to 200 items (these two calls' MaxResults range), all by default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from kiln.core.clock import as_utc, aws_datetime
from kiln.core.pagination import InvalidPaginationTokenException
from kiln.services.context import RequestContext
from kiln.services.ec2 import filters
from kiln.services.ec2.errors import InvalidPaginationToken, InvalidParameterValue

T = TypeVar("T")
MAX_RESULTS = 200
View = Mapping[str, Any]


def _create_time(view: View) -> list[str]:
    moment = view["CreateTime"]
    assert isinstance(moment, dt.datetime)
    return [aws_datetime(as_utc(moment))]


def _data(*path: str) -> filters.Getter:
    return filters.member("LaunchTemplateData", *path)


TEMPLATE_FILTERS: dict[str, filters.Getter] = {
    "launch-template-name": filters.member("LaunchTemplateName"),
    "create-time": _create_time,
}
VERSION_FILTERS: dict[str, filters.Getter] = {
    "create-time": _create_time,
    "is-default-version": filters.member("DefaultVersion"),
    "image-id": _data("ImageId"),
    "instance-type": _data("InstanceType"),
    "kernel-id": _data("KernelId"),
    "ram-disk-id": _data("RamDiskId"),
    "ebs-optimized": _data("EbsOptimized"),
    "iam-instance-profile": lambda view: [
        *_data("IamInstanceProfile", "Arn")(view),
        *_data("IamInstanceProfile", "Name")(view),
    ],
    "http-endpoint": _data("MetadataOptions", "HttpEndpoint"),
    "http-protocol-ipv4": _data("MetadataOptions", "HttpProtocolIpv4"),
    "http-protocol-ipv6": _data("MetadataOptions", "HttpProtocolIpv6"),
    "http-put-response-hop-limit": _data("MetadataOptions", "HttpPutResponseHopLimit"),
    "http-tokens": _data("MetadataOptions", "HttpTokens"),
    "license-configuration-arn": _data("LicenseSpecifications", "LicenseConfigurationArn"),
    "network-card-index": _data("NetworkInterfaces", "NetworkCardIndex"),
    "host-resource-group-arn": _data("Placement", "HostResourceGroupArn"),
}


def matching(
    views: Sequence[View], given: list[dict[str, Any]] | None, table: Mapping[str, filters.Getter]
) -> list[View]:
    test = filters.predicate(given, table)
    return [view for view in views if test(view)]


def page(
    ctx: RequestContext, operation: str, items: Sequence[T], params: Mapping[str, Any]
) -> tuple[list[T], str | None]:
    """One page of `items` for MaxResults (1 to 200) and NextToken, and the next token."""
    size = params.get("MaxResults")
    if size is not None and not 1 <= size <= MAX_RESULTS:
        raise InvalidParameterValue(
            f"Value ( {size} ) for parameter maxResults is invalid. Expecting a value between "
            f"1 and {MAX_RESULTS}."
        )
    token = params.get("NextToken")
    try:
        return ctx.tokens.page(
            operation,
            items,
            max_results=size or max(len(items), 1),
            next_token=token,
        )
    except InvalidPaginationTokenException as exc:
        raise InvalidPaginationToken(f"Invalid pagination token: {token}") from exc
