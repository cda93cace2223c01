"""A recipe's `parentImage`: what it names, whether it exists, and what it tells about the
platform and OS version the recipe's components must support.

Image recipes accept an Image Builder image ARN (x wildcards allowed), an AMI id (`ami-...`) or
an SSM parameter (`ssm:<name or ARN>`). Container recipes accept a registry reference
(`debian:12`, `registry.example.com:5000/team/app:1.2`, `...@sha256:...`) or an image ARN.

Amazon-managed parents (owner `aws`) are Kiln's own Debian builds: they are accepted by name
before any row exists, because Kiln builds them on first use.

An AMI parent must exist in the recipe's region and be one the account may launch (it owns it,
it is public, or its launch permissions name the account), when the recipe is made and again
when a build starts. A build resolves an image recipe's parent to the AMI it starts from
(`build_parent`): an `ami-…` as it is, the ARN of an image Kiln built (x wildcards allowed) to
the AMI of its newest AVAILABLE matching build version in the region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiln.amis import registry as amis
from kiln.amis.registry import AVAILABLE, Ami
from kiln.core.arn import ImageBuilderArn
from kiln.core.semver import VersionSelector
from kiln.services.context import RequestContext
from kiln.services.ec2.ami_access import visible_to
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from kiln.store import resources
from kiln.store.schema import ResourceRow

IMAGE = "image"
LINUX = "Linux"


@dataclass(frozen=True, slots=True)
class ManagedParent:
    """An Amazon-managed (owner `aws`) parent image that Kiln builds itself."""

    name: str
    platform: str
    os_version: str


@dataclass(frozen=True, slots=True)
class ParentFacts:
    """What a parent image says about itself; None where it cannot be known yet."""

    platform: str | None
    os_version: str | None


MANAGED_VM_IMAGES = {
    parent.name: parent
    for parent in (
        ManagedParent("debian-12-x86", LINUX, "Debian 12"),
        ManagedParent("debian-13-x86", LINUX, "Debian 13"),
    )
}
# Registry names served by Kiln's managed Debian base when no registry serves them.
MANAGED_CONTAINER_IMAGES = {
    "debian:12": "Debian 12",
    "debian:bookworm": "Debian 12",
    "debian:13": "Debian 13",
    "debian:trixie": "Debian 13",
}

_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_SSM_NAME = re.compile(r"^/?[a-zA-Z0-9_.\-]+(?:/[a-zA-Z0-9_.\-]+)*$")
_SSM_ARN = re.compile(r"^arn:aws[^:]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[a-zA-Z0-9_.\-/]+$")
_NAME_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:(?P<registry>(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?)/)?"
    rf"(?P<path>{_NAME_PART}(?:/{_NAME_PART})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def image_recipe_parent(ctx: RequestContext, parent: str) -> ParentFacts:
    """Check an image recipe's parentImage; the facts it gives about the recipe."""
    if parent.startswith("arn:"):
        return _image_arn(ctx, parent, want_type="AMI")
    if _AMI.match(parent):
        return _ami_facts(ctx, launchable_ami(ctx, parent))
    if parent.startswith("ssm:"):
        _check_ssm(parent)
        return ParentFacts(None, None)
    raise InvalidParameterValueException(
        f"The parent image '{parent}' is not valid. Specify an Image Builder image ARN "
        "(arn:aws:imagebuilder:REGION:ACCOUNT:image/NAME/VERSION, x wildcards allowed), an AMI "
        "ID (ami-...), or an SSM parameter (ssm:NAME). Kiln has no AWS Marketplace, so "
        "Marketplace product IDs cannot be used."
    )


def container_recipe_parent(ctx: RequestContext, parent: str) -> ParentFacts:
    """Check a container recipe's parentImage; the facts it gives about the recipe."""
    if parent.startswith("arn:"):
        return _image_arn(ctx, parent, want_type="DOCKER")
    match = _REFERENCE.match(parent)
    if not match:
        raise InvalidParameterValueException(
            f"The parent image '{parent}' is not a valid container image reference "
            "([registry/]repository[:tag][@sha256:digest]) or Image Builder image ARN."
        )
    short = parent.removeprefix("docker.io/").removeprefix("library/")
    os_version = MANAGED_CONTAINER_IMAGES.get(short)
    return ParentFacts(LINUX if os_version else None, os_version)


def image_os_version(row: ResourceRow) -> str | None:
    value = row.body.get("osVersion")
    return str(value) if value else None


def _image_arn(ctx: RequestContext, text: str, *, want_type: str) -> ParentFacts:
    arn = versions.parse(text, IMAGE, member="parentImage")
    if arn.region != ctx.region:
        raise InvalidParameterValueException(
            f"The parent image '{text}' is in region {arn.region}; a parent image must be in "
            f"the recipe's region ({ctx.region})."
        )
    if arn.version is None:
        arn = arn.with_version("x.x.x")
    row = versions.find(ctx, arn)
    if row is not None:
        kind = row.body.get("type")
        if kind and kind != want_type:
            expected = "a container image" if want_type == "DOCKER" else "an AMI"
            raise InvalidParameterValueException(
                f"The parent image '{text}' is a {kind} image; this recipe needs {expected}."
            )
        return ParentFacts(row.body.get("platform"), image_os_version(row))
    if arn.account == versions.AMAZON_OWNER and want_type == "AMI":
        managed = MANAGED_VM_IMAGES.get(arn.name)
        if managed is not None and _any_version(arn.version):
            return ParentFacts(managed.platform, managed.os_version)
        known = ", ".join(sorted(MANAGED_VM_IMAGES))
        raise ResourceNotFoundException(
            f"The parent image '{text}' does not exist. Amazon-managed parent images that Kiln "
            f"provides: {known} (for example "
            f"arn:aws:imagebuilder:{ctx.region}:aws:image/debian-12-x86/x.x.x)."
        )
    raise ResourceNotFoundException(f"The parent image '{text}' does not exist.")


def _any_version(selector: VersionSelector | None) -> bool:
    """Before its first build a managed image has no versions: only wildcards can name it."""
    return selector is None or not selector.is_exact


def _check_ssm(parent: str) -> None:
    name = parent.removeprefix("ssm:")
    if not (_SSM_ARN.match(name) or _SSM_NAME.match(name)) or len(name) > 2048:
        raise InvalidParameterValueException(
            f"The parent image '{parent}' is not a valid SSM parameter reference: use "
            "ssm:<parameter name> or ssm:<parameter ARN>."
        )


# -- AMI parents -------------------------------------------------------------------------------


def launchable_ami(ctx: RequestContext, ami_id: str, *, named: str | None = None) -> Ami:
    """The AMI of the request's region that the calling account may launch."""
    ami = amis.get(ctx.session, ami_id)
    if ami is None or ami.region != ctx.region or not visible_to(ami, ctx.account):
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'parentImage' is not valid. The AMI '{ami_id}'"
            f"{f' of {named}' if named else ''} does not exist in {ctx.region}, or account "
            f"{ctx.account} may not launch it: its owner shares it with EC2 "
            "ModifyImageAttribute (LaunchPermission)."
        )
    return ami


def _ami_facts(ctx: RequestContext, ami: Ami) -> ParentFacts:
    """What the image that built an AMI says about it; nothing for an AMI from elsewhere."""
    row = resources.by_arn(ctx.session, ami.image_arn) if ami.image_arn else None
    if row is None:
        return ParentFacts(None, None)
    return ParentFacts(row.body.get("platform"), image_os_version(row))


def build_parent(ctx: RequestContext, parent: str) -> str:
    """What an AMI build starts from: an AMI id, or a managed parent's ARN (the build host
    makes that disk). Checked against the building account's launch permissions."""
    if parent.startswith("arn:"):
        arn = versions.parse(parent, IMAGE, member="parentImage")
        if arn.account == versions.AMAZON_OWNER:
            return parent
        return _built_ami(ctx, parent, arn).ami_id
    if _AMI.match(parent):
        return _available(launchable_ami(ctx, parent)).ami_id
    return parent


def _built_ami(ctx: RequestContext, text: str, arn: ImageBuilderArn) -> Ami:
    """The AMI, in the request's region, of the newest AVAILABLE build the ARN selects."""
    image = _newest_available(ctx, arn)
    if image is None:
        raise ResourceNotFoundException(
            f"The parent image '{text}' has no AVAILABLE build version in {ctx.region}."
        )
    produced = [a for a in amis.of_image(ctx.session, image.arn) if a.region == ctx.region]
    if not produced:
        raise ResourceNotFoundException(
            f"The parent image '{image.arn}' has no AMI in {ctx.region}."
        )
    return _available(launchable_ami(ctx, produced[-1].ami_id, named=image.arn))


def _newest_available(ctx: RequestContext, arn: ImageBuilderArn) -> ResourceRow | None:
    if arn.region != ctx.region:
        return None
    if arn.is_build_version:
        row = resources.by_arn(ctx.session, str(arn))
        candidates = [row] if row is not None else []
    else:
        candidates = resources.listing(
            ctx.session,
            resource_type=IMAGE,
            region=arn.region,
            owners=[arn.account],
            arn_name=arn.name,
        )
    usable = [
        row
        for row in candidates
        if versions.visible(ctx, row)
        and (row.body.get("state") or {}).get("status") == AVAILABLE.upper()
    ]
    return versions.latest(usable, arn.version or VersionSelector.parse("x.x.x"))


def _available(ami: Ami) -> Ami:
    if ami.state != AVAILABLE:
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'parentImage' is not valid. The AMI "
            f"'{ami.ami_id}' is {ami.state}, not available."
        )
    return ami
