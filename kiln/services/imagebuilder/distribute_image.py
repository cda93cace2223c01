"""DistributeImage: distribute an existing AMI with a distribution configuration, no build.

The source is an AMI id the caller may launch in this region, or the ARN of an AVAILABLE AMI
image (its AMI in this region); an `ssm:` parameter is refused (Kiln has no Parameter Store).
Like AWS, the call answers the ARN of a new image resource whose only workflow is the
distribution (AWS-managed `distribute-image`): its name is the source image's name, or the
source AMI's name made into an image name, at version 1.0.0; GetImage follows it to AVAILABLE or
FAILED, and RetryImage re-runs a failed distribution.
"""

from __future__ import annotations

import re
from typing import Any

from kiln.amis import registry as ami_registry
from kiln.amis.copies import AmiNotFoundError, launchable_source
from kiln.amis.registry import AMI_ID, Ami
from kiln.engine import queue
from kiln.engine.plan import BuildPlan
from kiln.engine.queue import WorkKind
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.builds import ami_targets, managed_workflow
from kiln.services.imagebuilder.distribution import RESOURCE as DISTRIBUTION
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.images import record_image
from kiln.services.imagebuilder.infra_named import compact, find_named, view
from kiln.services.imagebuilder.passrole import require_execution_role
from kiln.store.schema import ResourceRow

WORKFLOW = "distribute-image"
DEFAULT_VERSION = "1.0.0"
_NOT_NAME = re.compile(r"[^a-z0-9_-]+")


def distribute_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    configuration = find_named(
        ctx, DISTRIBUTION, params["distributionConfigurationArn"],
        member="distributionConfigurationArn",
    )  # fmt: skip
    role = require_execution_role(ctx, params["executionRole"], member="executionRole")
    source, name, version = _source(ctx, str(params["sourceImage"]))
    plan = BuildPlan(
        image_type="AMI",
        parent_image=source.ami_id,
        components=(),
        workflows=(managed_workflow(ctx, WORKFLOW, "DISTRIBUTION"),),
        collect_metadata=False,
        ami_targets=ami_targets(configuration),
        source_ami=source.ami_id,
        execution_role=role.arn,
    )
    body: dict[str, Any] = {
        "name": name,
        "version": version,
        "type": "AMI",
        "platform": "Linux",
        "distributionConfiguration": compact(view(configuration)),
        "executionRole": role.arn,
        "loggingConfiguration": params.get("loggingConfiguration"),
        "buildType": "USER_INITIATED",
        "imageSource": "CUSTOM",
        "enhancedImageMetadataEnabled": False,
        "tags": params.get("tags"),
    }
    row = record_image(ctx.session, ctx.scope, body=body, now=ctx.now)
    queue.enqueue(
        ctx.session, kind=WorkKind.BUILD, subject=row.arn, now=ctx.now,
        payload={"plan": plan.to_payload()},
    )  # fmt: skip
    return {"clientToken": params.get("clientToken"), "imageBuildVersionArn": row.arn}


def _source(ctx: RequestContext, text: str) -> tuple[Ami, str, str]:
    """The AMI to distribute, and the name and version of the image that distributes it."""
    if text.startswith("ssm:"):
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'sourceImage' is not valid. '{text}' is an SSM "
            "parameter; Kiln has no SSM Parameter Store: give the AMI id or the image ARN."
        )
    if text.startswith("arn:"):
        return _from_image(ctx, text)
    if not AMI_ID.match(text):
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'sourceImage' is not valid. '{text}' is neither "
            "an AMI id (ami-…), an SSM parameter (ssm:…) nor an image ARN."
        )
    try:
        ami = launchable_source(ctx.session, text, region=ctx.region, account=ctx.account)
    except AmiNotFoundError as exc:
        raise ResourceNotFoundException(
            f"The AMI '{text}' does not exist in {ctx.region} or account {ctx.account} may not "
            "use it."
        ) from exc
    return ami, _image_name(ami.name), DEFAULT_VERSION


def _from_image(ctx: RequestContext, text: str) -> tuple[Ami, str, str]:
    row = versions.resolve(ctx, versions.parse(text, "image", member="sourceImage"))
    state = (row.body.get("state") or {}).get("status")
    if state != "AVAILABLE" or row.body.get("type", "AMI") != "AMI":
        raise InvalidRequestException(
            f"The image '{row.arn}' is {state} ({row.body.get('type', 'AMI')}); DistributeImage "
            "distributes an AVAILABLE AMI image."
        )
    ami = _ami_of(ctx, row)
    return ami, str(row.body["name"]), str(row.body["version"])


def _ami_of(ctx: RequestContext, row: ResourceRow) -> Ami:
    for ami in ami_registry.of_image(ctx.session, row.arn):
        if (
            ami.region == ctx.region
            and ami.state == ami_registry.AVAILABLE
            and ami.launchable_by(ctx.account)
        ):
            return ami
    raise InvalidRequestException(
        f"The image '{row.arn}' has no AMI in {ctx.region} that account {ctx.account} may use."
    )


def _image_name(ami_name: str) -> str:
    name = _NOT_NAME.sub("-", ami_name.lower()).strip("-_")
    return name[:126] or "distributed-ami"
