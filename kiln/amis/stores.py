"""The image stores of every region: which `DiskStore` keeps a region's AMI disks.

A region named in KILN_IMAGE_STORES has its own store (a directory or an S3-compatible
bucket); every other region keeps its disks under `<data_dir>/amis/<region>/`.

    stores = ImageStores.under(data_dir, {"eu-west-1": DirectoryStore(Path("/srv/amis-eu"))})
    disk = stores.relative("eu-west-1", "ami-…")     # "eu-west-1/ami-….qcow2"
    stores.copy(source_disk, "eu-west-1", "ami-…")   # link, copy or upload
    stores.path(disk)                                # a local file to boot or export
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kiln.amis.disks import DirectoryStore, DiskStore, check_disk, disk_name


@dataclass(frozen=True)
class ImageStores:
    default: DiskStore
    regions: Mapping[str, DiskStore] = field(default_factory=dict)

    @classmethod
    def under(cls, data_dir: Path, regions: Mapping[str, DiskStore] | None = None) -> ImageStores:
        return cls(DirectoryStore(data_dir / "amis"), dict(regions or {}))

    def for_region(self, region: str) -> DiskStore:
        return self.regions.get(region, self.default)

    def of_disk(self, disk: str) -> DiskStore:
        region, _ = check_disk(disk)
        return self.for_region(region)

    @staticmethod
    def relative(region: str, ami_id: str) -> str:
        return disk_name(region, ami_id)

    def path(self, disk: str) -> Path:
        return self.of_disk(disk).path(disk)

    def size(self, disk: str) -> int:
        return self.of_disk(disk).size(disk)

    def add(self, disk: str, source: Path) -> None:
        self.of_disk(disk).add(disk, source)

    def copy(self, disk: str, region: str, ami_id: str) -> str:
        """The disk of AMI `ami_id` in `region` with the bytes of `disk`; returns its name."""
        name = disk_name(region, ami_id)
        self.for_region(region).copy_from(self.path(disk), name)
        return name

    def remove(self, disk: str) -> None:
        self.of_disk(disk).remove(disk)
