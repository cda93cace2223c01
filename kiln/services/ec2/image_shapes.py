"""An AMI as EC2's `Image` shape, seen by one account.

Kiln's AMIs are x86_64 Linux disks booted by BIOS GRUB from one root volume, so the fixed
members say so: machine image, EBS-style root `/dev/xvda`, HVM, `legacy-bios`, Linux/UNIX
billed as RunInstances. The root volume's size is the disk's virtual size in GiB, read from the
qcow2 header (eight bytes at offset 24).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from typing import Any

from kiln.amis.disks import ImageStoreError
from kiln.amis.registry import Ami
from kiln.amis.stores import ImageStores
from kiln.core.clock import as_utc
from kiln.services.ec2.ami_access import AMAZON_ALIAS, AMAZON_OWNER, tags_of

ROOT_DEVICE = "/dev/xvda"
GIB = 1024**3
QCOW2_MAGIC = b"QFI\xfb"
DEFAULT_VOLUME_GIB = 8


def creation_date(moment: dt.datetime) -> str:
    """EC2's CreationDate string: `2024-05-01T12:00:00.000Z`."""
    when = as_utc(moment).astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def volume_gib(store: ImageStores | None, ami: Ami) -> int:
    """The root volume's size in GiB (at least 1)."""
    size = _virtual_size(store, ami.disk) if store is not None else None
    if size is None:
        size = ami.size or DEFAULT_VOLUME_GIB * GIB
    return max(1, math.ceil(size / GIB))


def _virtual_size(store: ImageStores, disk: str) -> int | None:
    try:
        header = store.read_head(disk, 32)  # a ranged read for a bucket store, never the disk
    except (OSError, ImageStoreError):
        return None
    if len(header) < 32 or header[:4] != QCOW2_MAGIC:
        return None
    return int(struct.unpack(">Q", header[24:32])[0])


def block_device_mappings(ami: Ami, store: ImageStores | None) -> list[dict[str, Any]]:
    ebs: dict[str, Any] = {
        "DeleteOnTermination": True,
        "VolumeSize": volume_gib(store, ami),
        "VolumeType": "gp3",
        "Encrypted": ami.kms_key_id is not None,
    }
    if ami.kms_key_id:
        ebs["KmsKeyId"] = ami.kms_key_id
    return [{"DeviceName": ROOT_DEVICE, "Ebs": ebs}]


def image_view(ami: Ami, account: str, store: ImageStores | None) -> dict[str, Any]:
    """The `Image` members Kiln knows, for `account`."""
    view: dict[str, Any] = {
        "ImageId": ami.ami_id,
        "ImageLocation": f"{ami.account}/{ami.name}",
        "State": ami.state,
        "OwnerId": ami.account,
        "CreationDate": creation_date(ami.created_at),
        "Public": ami.public or ami.account == AMAZON_OWNER,
        "Architecture": ami.architecture,
        "ImageType": "machine",
        "Name": ami.name,
        "Description": ami.description or None,
        "RootDeviceType": "ebs",
        "RootDeviceName": ROOT_DEVICE,
        "BlockDeviceMappings": block_device_mappings(ami, store),
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "EnaSupport": True,
        "SriovNetSupport": "simple",
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "BootMode": "legacy-bios",
        "DeregistrationProtection": "disabled",
        "ProductCodes": [],
    }
    if ami.account == AMAZON_OWNER:
        view["ImageOwnerAlias"] = AMAZON_ALIAS
    if ami.source_ami:
        view["SourceImageId"] = ami.source_ami
        view["SourceImageRegion"] = ami.source_region
    source_instance = ami.manifest.get("sourceInstance")
    if isinstance(source_instance, str) and source_instance:
        view["SourceInstanceId"] = source_instance
    imds = ami.manifest.get("imdsSupport")
    if isinstance(imds, str) and imds:
        view["ImdsSupport"] = imds
    if ami.deprecation_time is not None:
        view["DeprecationTime"] = creation_date(ami.deprecation_time)
    if ami.state_reason:
        view["StateReason"] = {"Code": ami.state, "Message": ami.state_reason}
    tags = tags_of(ami, account)
    if tags:
        view["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    return {k: v for k, v in view.items() if v is not None}
