"""DescribeImages, DeregisterImage and CopyImage over Kiln's AMI registry.

Images are those of the request's region the caller may see (kiln.services.ec2.ami_access).
DeregisterImage removes the row in the request's transaction and the disk file once that
transaction has committed, unless another AMI still names the file. CopyImage makes a new AMI
in the request's region, owned by the caller (kiln.amis.copies), whose disk has the source's
bytes in that region's image store (KILN_IMAGE_STORES; a hard link within one filesystem); the
disk is removed again if the request's transaction rolls back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from kiln.amis import registry
from kiln.amis.copies import copy_ami
from kiln.amis.disks import ImageStoreError
from kiln.amis.registry import AVAILABLE, Ami, DuplicateAmiNameError
from kiln.amis.stores import remove_after_commit
from kiln.core.regions import is_known_region
from kiln.services.context import RequestContext
from kiln.services.ec2 import filters, paging
from kiln.services.ec2.ami_access import (
    AMAZON_OWNER,
    after_rollback,
    check_ami_id,
    dry_run,
    find_owned,
    image_stores,
    known_image_stores,
    not_found,
    tags_of,
    visible_to,
)
from kiln.services.ec2.errors import (
    InvalidAMIIDNotFound,
    InvalidAMIIDUnavailable,
    InvalidAMINameDuplicate,
    InvalidAMINameMalformed,
    InvalidParameterCombination,
    InvalidParameterDependency,
    InvalidParameterValue,
    InvalidUserIDMalformed,
)
from kiln.services.ec2.image_shapes import image_view
from kiln.services.ec2.tags import checked_total, tag_map

ACCOUNT_ID = re.compile(r"^\d{12}$")
AMI_NAME = re.compile(r"^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$")
DEFAULT_KMS_KEY = "alias/aws/ebs"
MAX_DESCRIPTION = 255
DISABLED = "disabled"

_m = filters.member
IMAGE_FILTERS: dict[str, filters.Getter] = {
    "architecture": _m("Architecture"),
    "block-device-mapping.delete-on-termination": _m(
        "BlockDeviceMappings", "Ebs", "DeleteOnTermination"
    ),
    "block-device-mapping.device-name": _m("BlockDeviceMappings", "DeviceName"),
    "block-device-mapping.encrypted": _m("BlockDeviceMappings", "Ebs", "Encrypted"),
    "block-device-mapping.volume-size": _m("BlockDeviceMappings", "Ebs", "VolumeSize"),
    "block-device-mapping.volume-type": _m("BlockDeviceMappings", "Ebs", "VolumeType"),
    "boot-mode": _m("BootMode"),
    "creation-date": _m("CreationDate"),
    "deprecation-time": _m("DeprecationTime"),
    "description": _m("Description"),
    "ena-support": _m("EnaSupport"),
    "hypervisor": _m("Hypervisor"),
    "image-id": _m("ImageId"),
    "image-type": _m("ImageType"),
    "imds-support": _m("ImdsSupport"),
    "is-public": _m("Public"),
    "kernel-id": _m("KernelId"),
    "manifest-location": _m("ImageLocation"),
    "name": _m("Name"),
    "owner-alias": _m("ImageOwnerAlias"),
    "owner-id": _m("OwnerId"),
    "platform": _m("Platform"),
    "platform-details": _m("PlatformDetails"),
    "product-code": _m("ProductCodes", "ProductCodeId"),
    "ramdisk-id": _m("RamdiskId"),
    "root-device-name": _m("RootDeviceName"),
    "root-device-type": _m("RootDeviceType"),
    "source-image-id": _m("SourceImageId"),
    "source-image-region": _m("SourceImageRegion"),
    "source-instance-id": _m("SourceInstanceId"),
    "sriov-net-support": _m("SriovNetSupport"),
    "state": _m("State"),
    "state-reason-code": _m("StateReason", "Code"),
    "state-reason-message": _m("StateReason", "Message"),
    "usage-operation": _m("UsageOperation"),
    "virtualization-type": _m("VirtualizationType"),
}

AmiTest = Callable[[Ami], bool]


# -- DescribeImages ----------------------------------------------------------------------------


def describe_images(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = list(dict.fromkeys(params.get("ImageIds") or []))
    if ids and params.get("MaxResults") is not None:
        raise InvalidParameterCombination(
            "The parameter imageIdsSet cannot be used with the parameter maxResults"
        )
    for ami_id in ids:
        check_ami_id(ami_id)
    by_owner = _owners(ctx, params.get("Owners"))
    by_user = _executable_by(ctx, params.get("ExecutableUsers"))
    matching = filters.predicate(params.get("Filters"), IMAGE_FILTERS)
    paging.max_results(params)
    dry_run(params)
    seen = [a for a in registry.in_region(ctx.session, ctx.region) if visible_to(a, ctx.account)]
    candidates = seen
    if ids:
        known = {ami.ami_id: ami for ami in seen}
        missing = [ami_id for ami_id in ids if ami_id not in known]
        if missing:
            raise not_found(*missing)
        candidates = [known[ami_id] for ami_id in ids]
    store = known_image_stores(ctx)
    views = []
    for ami in candidates:
        if not _listed(ctx, ami, params, named=bool(ids)) or not (by_owner(ami) and by_user(ami)):
            continue
        view = image_view(ami, ctx.account, store)
        if matching(view):
            views.append(view)
    page, following = paging.page(ctx, "DescribeImages", views, params)
    return {"Images": page, "NextToken": following}


def _listed(ctx: RequestContext, ami: Ami, params: dict[str, Any], *, named: bool) -> bool:
    """Disabled AMIs appear only when asked for; deprecated ones of other accounts only when
    asked for or named."""
    if ami.state == DISABLED and not params.get("IncludeDisabled"):
        return False
    if ami.deprecated(ctx.now) and ami.account != ctx.account and not named:
        return bool(params.get("IncludeDeprecated"))
    return True


def _owners(ctx: RequestContext, owners: Sequence[str] | None) -> AmiTest:
    if not owners:
        return lambda _ami: True
    accounts: set[str] = set()
    for owner in owners:
        if owner == "self":
            accounts.add(ctx.account)
        elif owner in ("amazon", AMAZON_OWNER):
            accounts.add(AMAZON_OWNER)
        elif owner in ("aws-marketplace", "aws-backup-vault"):
            continue  # Kiln has neither: nothing is theirs
        elif ACCOUNT_ID.match(owner):
            accounts.add(owner)
        else:
            raise InvalidUserIDMalformed(f'Invalid user id: "{owner}"')
    return lambda ami: ami.account in accounts


def _executable_by(ctx: RequestContext, users: Sequence[str] | None) -> AmiTest:
    if not users:
        return lambda _ami: True
    public = False
    accounts: set[str] = set()
    for user in users:
        if user == "all":
            public = True
        elif user == "self":
            accounts.add(ctx.account)
        elif ACCOUNT_ID.match(user):
            accounts.add(user)
        else:
            raise InvalidUserIDMalformed(f'Invalid user id: "{user}"')

    def test(ami: Ami) -> bool:
        if public and ami.public:
            return True
        return any(p.get("UserId") in accounts for p in ami.launch_permissions)

    return test


# -- DeregisterImage ---------------------------------------------------------------------------


def deregister_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ami = find_owned(ctx, params["ImageId"])
    dry_run(params)
    disk = registry.deregister(ctx.session, ami.ami_id)
    if disk is not None:
        remove_after_commit(ctx.session, image_stores(ctx), disk)
    return {"Return": True}


# -- CopyImage ---------------------------------------------------------------------------------


def copy_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    source = _copy_source(ctx, params["SourceRegion"], params["SourceImageId"])
    name = check_ami_name(params["Name"])
    kms_key = _kms_key(params, source)
    tags = checked_total(
        {
            **(tags_of(source, ctx.account) if params.get("CopyImageTags") else {}),
            **_image_tag_specifications(params.get("TagSpecifications")),
        }
    )
    if registry.name_taken(ctx.session, account=ctx.account, region=ctx.region, name=name):
        raise InvalidAMINameDuplicate(f"AMI name {name} is already in use by AMI in {ctx.region}")
    dry_run(params)
    description = params.get("Description")
    if description is None:
        copied = f"[Copied {source.ami_id} from {source.region}]"
        description = f"{copied} {source.description}".strip()[:MAX_DESCRIPTION]
    stores = image_stores(ctx)
    try:
        copy = copy_ami(
            ctx.session,
            stores,
            source,
            region=ctx.region,
            account=ctx.account,
            name=name,
            now=ctx.now,
            description=description,
            tags=tags,
            kms_key_id=kms_key,
            manifest=_copied_manifest(source),
        )
    except DuplicateAmiNameError as exc:
        raise InvalidAMINameDuplicate(str(exc)) from exc
    except ImageStoreError as exc:
        raise InvalidAMIIDUnavailable(
            f"The image id '{source.ami_id}' could not be copied to {ctx.region}: {exc}"
        ) from exc
    after_rollback(ctx, lambda: stores.remove(copy.disk))
    return {"ImageId": copy.ami_id}


def _copy_source(ctx: RequestContext, region: str, ami_id: str) -> Ami:
    if not is_known_region(region, ctx.regions):
        raise InvalidParameterValue(f"Invalid value '{region}' for SourceRegion: no such region")
    check_ami_id(ami_id)
    source = registry.get(ctx.session, ami_id)
    if source is None or source.region != region or not visible_to(source, ctx.account):
        raise InvalidAMIIDNotFound(f"The image id '[{ami_id}]' does not exist in {region}")
    if source.state != AVAILABLE:
        raise InvalidAMIIDUnavailable(
            f"The image id '{ami_id}' is not available for copying (state: {source.state})"
        )
    return source


def check_ami_name(name: str) -> str:
    if not AMI_NAME.match(name):
        raise InvalidAMINameMalformed(
            "AMI names must be between 3 and 128 characters long, and may contain letters, "
            "numbers, spaces, '(', ')', '[', ']', '.', '/', '-', \"'\", '@' and '_'"
        )
    return name


def _kms_key(params: dict[str, Any], source: Ami) -> str | None:
    key = params.get("KmsKeyId")
    if key and not params.get("Encrypted"):
        raise InvalidParameterDependency(
            "The parameter KmsKeyId requires the parameter Encrypted to be set."
        )
    if params.get("Encrypted"):
        return str(key or source.kms_key_id or DEFAULT_KMS_KEY)
    return source.kms_key_id


def _image_tag_specifications(specs: Sequence[dict[str, Any]] | None) -> dict[str, str]:
    """Tags for the new image; snapshot tags are accepted (Kiln keeps no snapshots)."""
    tags: dict[str, str] = {}
    for spec in specs or ():
        kind = spec.get("ResourceType")
        if kind not in ("image", "snapshot"):
            raise InvalidParameterValue(
                f"'{kind}' is not a valid taggable resource type for this operation."
            )
        found = tag_map(spec.get("Tags"))
        if kind == "image":
            tags.update(found)
    return tags


def _copied_manifest(source: Ami) -> dict[str, Any]:
    keep = {k: v for k, v in source.manifest.items() if k in ("parent", "imdsSupport")}
    return {**keep, "copiedFrom": {"imageId": source.ami_id, "region": source.region}}
