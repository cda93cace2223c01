"""EnableImageDeprecation, DisableImageDeprecation, DisableImage, EnableImage.

Only the owner changes an AMI's state (kiln.services.ec2.ami_access.find_owned).

- A deprecation time is EC2's: seconds rounded to the nearest minute, not in the past, at most
  ten years ahead (two years past its creation for a public AMI). From that time on other
  accounts' DescribeImages leave the AMI out unless they ask for deprecated AMIs or name it;
  the owner always sees it (kiln.services.ec2.images).
- DisableImage makes the AMI `disabled` and private (every launch permission is dropped), so
  it cannot be launched, copied or shared; DescribeImages leaves it out unless asked to include
  disabled AMIs. EnableImage makes it `available` again; it stays private.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiln.amis import registry
from kiln.amis.registry import AVAILABLE, DISABLED
from kiln.core.clock import as_utc
from kiln.services.context import RequestContext
from kiln.services.ec2.ami_access import dry_run, find_owned
from kiln.services.ec2.errors import InvalidParameterValue, UnsupportedOperation
from kiln.services.ec2.image_shapes import creation_date

MAX_AHEAD = dt.timedelta(days=3652)
PUBLIC_MAX_AHEAD = dt.timedelta(days=730)


def enable_image_deprecation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ami = find_owned(ctx, params["ImageId"])
    at = deprecation_moment(params["DeprecateAt"])
    now = ctx.now.astimezone(dt.UTC)
    if at < now.replace(second=0, microsecond=0):
        raise InvalidParameterValue(
            f"The deprecation time {creation_date(at)} is in the past: choose a future time."
        )
    latest = ami.created_at + PUBLIC_MAX_AHEAD if ami.public else now + MAX_AHEAD
    if at > latest:
        limit = "2 years after its creation for a public AMI" if ami.public else "10 years ahead"
        raise InvalidParameterValue(
            f"The deprecation time {creation_date(at)} is too far ahead: at most {limit}."
        )
    dry_run(params)
    registry.set_deprecation(ctx.session, ami.ami_id, at)
    return {"Return": True}


def disable_image_deprecation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ami = find_owned(ctx, params["ImageId"])
    dry_run(params)
    registry.set_deprecation(ctx.session, ami.ami_id, None)
    return {"Return": True}


def disable_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ami = find_owned(ctx, params["ImageId"])
    if ami.state not in (AVAILABLE, DISABLED):
        raise UnsupportedOperation(
            f"The image '{ami.ami_id}' is {ami.state}: only an available AMI can be disabled."
        )
    dry_run(params)
    registry.disable(ctx.session, ami.ami_id)
    return {"Return": True}


def enable_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ami = find_owned(ctx, params["ImageId"])
    if ami.state not in (AVAILABLE, DISABLED):
        raise UnsupportedOperation(
            f"The image '{ami.ami_id}' is {ami.state}: only a disabled AMI can be enabled."
        )
    dry_run(params)
    registry.enable(ctx.session, ami.ami_id)
    return {"Return": True}


def deprecation_moment(value: dt.datetime | str) -> dt.datetime:
    """DeprecateAt in UTC, its seconds rounded to the nearest minute."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidParameterValue(
                f"Invalid value '{value}' for DeprecateAt: expected YYYY-MM-DDTHH:MM:SSZ."
            ) from exc
    moment = as_utc(value).astimezone(dt.UTC)
    rounded = moment.replace(second=0, microsecond=0)
    if moment.second >= 30:
        rounded += dt.timedelta(minutes=1)
    return rounded
