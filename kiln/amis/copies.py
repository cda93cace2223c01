"""Copying an AMI into a region for an account: EC2's CopyImage, as distribution and the EC2
service both do it.

A copy is a new AMI (its own id) owned by the account that copies, in the destination region,
whose disk has the source's bytes in that region's image store (kiln.amis.stores); a copy
within one filesystem is a hard link.

    source = registry.get(session, "ami-…")
    copy = copy_ami(session, stores, source, region="eu-west-1", account="222…", name=..., now=...)

The caller must be allowed to launch the source (its owner, a named account, or public);
otherwise the source is reported as EC2 does, not found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from kiln.amis import registry
from kiln.amis.registry import Ami, DuplicateAmiNameError
from kiln.amis.stores import ImageStores
from kiln.core.errors import ClientError
from kiln.core.ids import ami_id as new_ami_id

__all__ = ["AmiNotFoundError", "copy_ami", "launchable_source"]


class AmiNotFoundError(ClientError):
    """EC2's InvalidAMIID.NotFound: no such AMI in the region, or not one the account may use."""

    code = "InvalidAMIID.NotFound"


def launchable_source(session: Session, ami_id: str, *, region: str, account: str) -> Ami:
    """The AMI `ami_id` in `region` if `account` may launch (and so copy) it."""
    source = registry.get(session, ami_id)
    if (
        source is None
        or source.region != region
        or source.state != registry.AVAILABLE
        or not source.launchable_by(account)
    ):
        raise AmiNotFoundError(f"The image id '[{ami_id}]' does not exist")
    return source


def copy_ami(
    session: Session,
    stores: ImageStores,
    source: Ami,
    *,
    region: str,
    account: str,
    name: str,
    now: dt.datetime,
    description: str | None = None,
    image_arn: str | None = None,
    tags: Mapping[str, str] | None = None,
    launch_permissions: Sequence[Mapping[str, str]] = (),
    kms_key_id: str | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> Ami:
    """Register a copy of `source` owned by `account` in `region` (in the caller's
    transaction); its disk is linked or copied first and removed again if registration fails
    (if the caller's transaction rolls back later, removing `copy.disk` is the caller's part).

    `image_arn` ties the copy to the Image Builder image that distributes it (an EC2 CopyImage
    gives none); `manifest` defaults to the source's, noting where the copy came from.
    Raises DuplicateAmiNameError when the account already has an AMI of that name there.
    """
    if registry.name_taken(session, account=account, region=region, name=name):
        raise DuplicateAmiNameError(f"AMI name {name} is already in use by AMI in {region}")
    ami = new_ami_id()
    disk = stores.copy(source.disk, region, ami)
    try:
        return registry.register(
            session,
            ami_id=ami,
            account=account,
            region=region,
            name=name,
            disk=disk,
            now=now,
            size=source.size or stores.size(disk),
            description=source.description if description is None else description,
            image_arn=image_arn,
            source_ami=source.ami_id,
            source_region=source.region,
            kms_key_id=kms_key_id,
            launch_permissions=launch_permissions,
            tags=tags,
            manifest=(
                {**source.manifest, "copiedFrom": f"{source.region}/{source.ami_id}"}
                if manifest is None
                else manifest
            ),
        )
    except Exception:
        stores.remove(disk)
        raise
