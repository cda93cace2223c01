"""The image store: the disk files behind AMIs, `<root>/<region>/<ami>.qcow2`.

AMI rows (kiln.amis.registry) name their disk relative to the root. Disks are immutable once
registered, so a copy to another account or region is a hard link when the store is one
filesystem, and a byte copy otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from kiln.amis.registry import AMI_ID
from kiln.core.errors import KilnError

REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


class ImageStoreError(KilnError):
    pass


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def under(cls, data_dir: Path) -> ImageStore:
        return cls(data_dir / "amis")

    @staticmethod
    def relative(region: str, ami_id: str) -> str:
        """Where the disk of `ami_id` in `region` lives, relative to the root."""
        if not REGION_PATTERN.match(region) or not AMI_ID.match(ami_id):
            raise ImageStoreError(f"no disk name for {ami_id!r} in {region!r}")
        return f"{region}/{ami_id}.qcow2"

    def path(self, disk: str) -> Path:
        """The file of a stored disk name; a name that leaves the store is refused."""
        region, _, name = disk.partition("/")
        if not REGION_PATTERN.match(region) or not AMI_ID.match(name.removesuffix(".qcow2")):
            raise ImageStoreError(f"{disk!r} is not a disk of the image store")
        return self.root / region / name

    def size(self, disk: str) -> int:
        try:
            return self.path(disk).stat().st_size
        except OSError:
            return 0

    def copy(self, disk: str, region: str, ami_id: str) -> str:
        """The disk of a new AMI with the bytes of `disk`; returns its name."""
        source = self.path(disk)
        target_name = self.relative(region, ami_id)
        target = self.path(target_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            os.link(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
        os.replace(partial, target)
        return target_name

    def remove(self, disk: str) -> None:
        path = self.path(disk)
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
