"""AMI disks written out: to a file (`kiln images export`) or into the object store (the
distribution configuration's `s3ExportConfiguration`).

The object key follows VM Import/Export: `<prefix>export-ami-<17 hex>.<format>`, e.g.
`exports/export-ami-1234567890abcdef0.vmdk`. AWS glues prefix and name together as given;
Image Builder's `s3Prefix` is a folder, so `export_key` adds the `/` a prefix lacks.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from kiln.amis.formats import DiskFormat, export_disk, parse_format
from kiln.objectstore import Resolver
from kiln.objectstore.names import check_key

CONTENT_TYPES = {
    DiskFormat.RAW: "application/octet-stream",
    DiskFormat.QCOW2: "application/x-qemu-disk",
    DiskFormat.VMDK: "application/x-vmdk",
    DiskFormat.VHD: "application/x-vhd",
}


def new_export_task_id() -> str:
    """`export-ami-` and 17 hex digits, as EC2 names image export tasks."""
    return "export-ami-" + secrets.token_hex(9)[:17]


def export_key(prefix: str | None, task_id: str, fmt: str) -> str:
    """Where an export lands in the bucket: `<prefix>/<task id>.<format>`."""
    folder = (prefix or "").lstrip("/")
    if folder and not folder.endswith("/"):
        folder += "/"
    return check_key(f"{folder}{task_id}.{parse_format(fmt).value}")


def export_to_file(disk: Path, fmt: str, output: Path) -> Path:
    """Write the AMI disk `disk` (Kiln's qcow2) to `output` in `fmt`; returns `output`."""
    export_disk(disk, output, parse_format(fmt))
    return output


def export_to_object_store(objects: Resolver, disk: Path, fmt: str, bucket: str, key: str) -> None:
    """Convert the AMI disk `disk` to `fmt` and store it as s3://bucket/key.

    The converted file is made in a temporary folder beside nothing else and streamed to the
    bucket's store (multipart for S3-compatible servers); the bucket must exist.
    """
    disk_format = parse_format(fmt)
    with tempfile.TemporaryDirectory(prefix="kiln-export-") as work:
        converted = Path(work) / f"disk.{disk_format.value}"
        export_disk(disk, converted, disk_format)
        store = objects.for_bucket(bucket)
        with converted.open("rb") as body:
            store.put_object(bucket, key, body, content_type=CONTENT_TYPES[disk_format])
