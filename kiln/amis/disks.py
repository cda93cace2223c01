"""Where the disk files behind AMIs live: one disk store per region.

A disk is named `<region>/<ami>.qcow2` (`disk_name`); AMI rows (kiln.amis.registry) keep that
name, and the region's store keeps the bytes. Disks are immutable once added, so a copy to
another account or region within one filesystem is a hard link.

`DiskStore` is the port; `DirectoryStore` keeps disks under a directory (the default,
`<data_dir>/amis`); kiln.amis.bucket_store keeps them in an S3-compatible bucket.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Protocol

from kiln.amis.registry import AMI_ID
from kiln.core.errors import KilnError

REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


class ImageStoreError(KilnError):
    pass


def disk_name(region: str, ami_id: str) -> str:
    """The disk name of `ami_id` in `region`."""
    if not REGION_PATTERN.match(region) or not AMI_ID.match(ami_id):
        raise ImageStoreError(f"no disk name for {ami_id!r} in {region!r}")
    return f"{region}/{ami_id}.qcow2"


def check_disk(disk: str) -> tuple[str, str]:
    """(region, file name) of a disk name; a name that is not one is refused."""
    region, _, name = disk.partition("/")
    if not REGION_PATTERN.match(region) or not AMI_ID.match(name.removesuffix(".qcow2")):
        raise ImageStoreError(f"{disk!r} is not a disk of the image store")
    if not name.endswith(".qcow2"):
        raise ImageStoreError(f"{disk!r} is not a disk of the image store")
    return region, name


class DiskStore(Protocol):
    """One region's AMI disks."""

    @property
    def location(self) -> str:
        """Where the disks are, for messages (a directory or an s3:// URI)."""
        ...

    def path(self, disk: str) -> Path:
        """A local file with the disk's bytes, to read (a bucket store fetches it first)."""
        ...

    def size(self, disk: str) -> int:
        """The stored size in bytes; 0 when the disk is missing."""
        ...

    def read_head(self, disk: str, length: int) -> bytes:
        """The disk's first `length` bytes (fewer if it is shorter), without fetching the rest;
        ImageStoreError when the disk is missing."""
        ...

    def add(self, disk: str, source: Path) -> None:
        """Take the finished local file `source` as `disk` (it is moved or consumed)."""
        ...

    def copy_from(self, source: Path, disk: str) -> None:
        """Store a copy of the local file `source` (left in place) as `disk`."""
        ...

    def remove(self, disk: str) -> None:
        """Forget the disk; a missing disk is not an error."""
        ...


class DirectoryStore:
    """Disks as files under `root`: `<root>/<region>/<ami>.qcow2`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def path(self, disk: str) -> Path:
        region, name = check_disk(disk)
        return self.root / region / name

    def size(self, disk: str) -> int:
        try:
            return self.path(disk).stat().st_size
        except OSError:
            return 0

    def read_head(self, disk: str, length: int) -> bytes:
        try:
            with self.path(disk).open("rb") as handle:
                return handle.read(length)
        except OSError as exc:
            raise ImageStoreError(f"the disk {disk} in {self.root} cannot be read: {exc}") from exc

    def add(self, disk: str, source: Path) -> None:
        target = self.path(disk)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:  # another filesystem
            self.copy_from(source, disk)
            source.unlink(missing_ok=True)

    def copy_from(self, source: Path, disk: str) -> None:
        target = self.path(disk)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            os.link(source, partial)
        except OSError:
            try:
                shutil.copyfile(source, partial)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                raise ImageStoreError(f"the disk {disk} could not be copied: {exc}") from exc
        os.replace(partial, target)

    def remove(self, disk: str) -> None:
        self.path(disk).unlink(missing_ok=True)
