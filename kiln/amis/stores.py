"""The image stores of every region: which `DiskStore` keeps a region's AMI disks.

A region named in KILN_IMAGE_STORES has its own store (a directory or an S3-compatible
bucket); every other region keeps its disks under `<data_dir>/amis/<region>/`.

    stores = ImageStores.under(data_dir, {"eu-west-1": DirectoryStore(Path("/srv/amis-eu"))})
    stores = ImageStores.configured(settings, data_dir, resolver)    # as KILN_IMAGE_STORES says
    disk = stores.relative("eu-west-1", "ami-…")     # "eu-west-1/ami-….qcow2"
    stores.copy(source_disk, "eu-west-1", "ami-…")   # link, copy or upload
    stores.path(disk)                                # a local file to boot or export

A bucket must exist when Kiln starts (`open` checks it): Kiln does not create buckets for
image stores, so a mistyped name fails at once instead of filling a new bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from kiln.amis.bucket_store import BucketStore
from kiln.amis.disks import DirectoryStore, DiskStore, ImageStoreError, check_disk, disk_name
from kiln.core.errors import ConfigurationError
from kiln.objectstore import BucketPrefix, ObjectStoreError, Resolver
from kiln.settings import Settings

logger = logging.getLogger(__name__)

CACHE_FOLDER = "amis-cache"


@dataclass(frozen=True)
class ImageStores:
    default: DiskStore
    regions: Mapping[str, DiskStore] = field(default_factory=dict)

    @classmethod
    def under(cls, data_dir: Path, regions: Mapping[str, DiskStore] | None = None) -> ImageStores:
        return cls(DirectoryStore(data_dir / "amis"), dict(regions or {}))

    @classmethod
    def open(
        cls,
        data_dir: Path,
        locations: Mapping[str, Path | BucketPrefix],
        objects: Resolver,
        *,
        cache_limit: int | None = None,
    ) -> ImageStores:
        """The stores KILN_IMAGE_STORES names: a directory, or a bucket that must exist,
        cached under `<data_dir>/amis-cache/<bucket>` (at most `cache_limit` bytes each)."""
        regions: dict[str, DiskStore] = {}
        for region, location in locations.items():
            if isinstance(location, Path):
                regions[region] = DirectoryStore(location)
                continue
            try:
                backend = objects.for_bucket(location.bucket)
                exists = backend.bucket_exists(location.bucket)
            except ObjectStoreError as exc:
                raise ConfigurationError(
                    f"KILN_IMAGE_STORES: the bucket of {region}'s image store {location.uri} "
                    f"cannot be checked: {exc}",
                    hint="check KILN_S3_ENDPOINT / KILN_S3_BUCKETS and the credentials",
                ) from exc
            if not exists:
                raise ConfigurationError(
                    f"KILN_IMAGE_STORES: the bucket {location.bucket!r} of {region}'s image "
                    f"store {location.uri} does not exist",
                    hint="create the bucket first (Kiln does not create image-store buckets); "
                    "KILN_S3_ENDPOINT / KILN_S3_BUCKETS say which server holds it",
                )
            cache = data_dir / CACHE_FOLDER / location.bucket
            regions[region] = BucketStore(
                backend, location.bucket, location.prefix, cache, cache_limit=cache_limit
            )
        return cls.under(data_dir, regions)

    @classmethod
    def configured(cls, settings: Settings, data_dir: Path, objects: Resolver) -> ImageStores:
        """The stores a running Kiln uses: KILN_IMAGE_STORES, bucket caches bounded by
        KILN_IMAGE_CACHE_GIB."""
        return cls.open(
            data_dir,
            settings.image_store_map(),
            objects,
            cache_limit=settings.image_cache_bytes(),
        )

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

    def read_head(self, disk: str, length: int) -> bytes:
        """The disk's first bytes (a qcow2 header) without fetching a bucket disk whole."""
        return self.of_disk(disk).read_head(disk, length)

    def add(self, disk: str, source: Path) -> None:
        self.of_disk(disk).add(disk, source)

    def copy(self, disk: str, region: str, ami_id: str) -> str:
        """The disk of AMI `ami_id` in `region` with the bytes of `disk`; returns its name.

        Between two bucket stores on one object store the server copies the object; otherwise
        the source's local file (fetched into the cache if it is in a bucket) goes to the
        target's copy_from: a hard link, a file copy, or an upload.
        """
        name = disk_name(region, ami_id)
        source, target = self.of_disk(disk), self.for_region(region)
        if (
            isinstance(source, BucketStore)
            and isinstance(target, BucketStore)
            and source.objects is target.objects
        ):
            target.copy_object_from(source, disk, name)
        else:
            target.copy_from(source.path(disk), name)
        return name

    def remove(self, disk: str) -> None:
        self.of_disk(disk).remove(disk)


def remove_after_commit(session: Session, stores: ImageStores, disk: str) -> None:
    """Remove the disk of a deregistered AMI once `session`'s transaction commits (never if it
    rolls back). The row is gone by then, so a failure is logged, not raised."""

    def remove(_session: Session) -> None:
        try:
            stores.remove(disk)
        except (ImageStoreError, OSError):
            logger.exception("the disk %s of a deregistered AMI could not be removed", disk)

    event.listen(session, "after_commit", remove, once=True)
