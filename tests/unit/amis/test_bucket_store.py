"""BucketStore on the local folder object store: disks as objects under a prefix, fetched once
into a cache (never half a file, refetched when stale), uploaded by add and copy_from, removed
with their cache entry; ImageStores copies between directory and bucket regions both ways."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from kiln.amis.bucket_store import BucketStore
from kiln.amis.disks import DirectoryStore, ImageStoreError
from kiln.amis.registry import Ami
from kiln.amis.stores import ImageStores
from kiln.core.clock import utcnow
from kiln.core.errors import ConfigurationError
from kiln.core.ids import ami_id
from kiln.objectstore import BucketPrefix, LocalDirectoryStore, ObjectStoreConfig, Resolver
from kiln.services.ec2.image_shapes import volume_gib
from kiln.settings import Settings

BUCKET = "kiln-amis"
GIB = 1024**3


class CountingStore(LocalDirectoryStore):
    """The local store, counting whole-object downloads (the port's get_object)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.downloads = 0
        self._count_lock = threading.Lock()

    def get_object(self, bucket: str, key: str) -> BinaryIO:
        with self._count_lock:
            self.downloads += 1
        return super().get_object(bucket, key)


@pytest.fixture
def objects(tmp_path: Path) -> CountingStore:
    store = CountingStore(tmp_path / "objects")
    store.create_bucket(BUCKET)
    return store


@pytest.fixture
def store(objects: CountingStore, tmp_path: Path) -> BucketStore:
    return BucketStore(objects, BUCKET, "amis/eu", tmp_path / "cache")


def qcow2_header(virtual_size: int) -> bytes:
    """The first bytes of a qcow2 file: magic, version 3, ..., the virtual size at offset 24."""
    return b"QFI\xfb" + struct.pack(">I", 3) + bytes(16) + struct.pack(">Q", virtual_size)


def local_disk(folder: Path, body: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ami_id()}.qcow2"
    path.write_bytes(body)
    return path


def test_add_uploads_under_the_prefix_and_keeps_the_file_as_cache(store, objects, tmp_path):
    disk = f"eu-west-1/{ami_id()}.qcow2"
    source = local_disk(tmp_path / "work", b"disk bytes")
    store.add(disk, source)
    assert store.location == f"s3://{BUCKET}/amis/eu/"
    assert objects.list_objects(BUCKET) == [f"amis/eu/{disk}"]
    assert not source.exists()
    assert store.size(disk) == len(b"disk bytes")
    assert store.path(disk) == tmp_path / "cache" / "amis" / "eu" / disk
    assert store.path(disk).read_bytes() == b"disk bytes"
    assert objects.downloads == 0


def test_path_fetches_once_and_refetches_a_stale_cache(store, objects):
    disk = f"eu-west-1/{ami_id()}.qcow2"
    objects.put_object(BUCKET, f"amis/eu/{disk}", b"first version")
    path = store.path(disk)
    assert path.read_bytes() == b"first version"
    assert store.path(disk) == path and objects.downloads == 1
    path.write_bytes(b"torn")  # a cache entry whose size is not the object's
    assert store.path(disk).read_bytes() == b"first version"
    assert objects.downloads == 2
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")] == []


def test_concurrent_readers_share_one_download_and_see_whole_files(store, objects):
    disk = f"eu-west-1/{ami_id()}.qcow2"
    body = bytes(range(256)) * 40_000
    objects.put_object(BUCKET, f"amis/eu/{disk}", body)
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            seen.append(store.path(disk).read_bytes())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert seen == [body] * 6
    assert objects.downloads == 1


def test_copy_from_leaves_the_source_and_remove_forgets_object_and_cache(store, objects, tmp_path):
    disk = f"eu-west-1/{ami_id()}.qcow2"
    source = local_disk(tmp_path / "work", b"copied")
    store.copy_from(source, disk)
    assert source.read_bytes() == b"copied"
    assert objects.list_objects(BUCKET) == [f"amis/eu/{disk}"]
    cached = store.path(disk)
    assert cached.read_bytes() == b"copied"
    store.remove(disk)
    assert objects.list_objects(BUCKET) == []
    assert not cached.exists()
    assert store.size(disk) == 0
    store.remove(disk)  # a missing disk is not an error


def test_missing_disks_and_buckets_are_image_store_errors(objects, tmp_path):
    store = BucketStore(objects, BUCKET, "", tmp_path / "cache")
    disk = f"eu-west-1/{ami_id()}.qcow2"
    assert store.location == f"s3://{BUCKET}/"
    with pytest.raises(ImageStoreError, match=f"s3://{BUCKET}/{disk} does not exist"):
        store.path(disk)
    with pytest.raises(ImageStoreError, match="s3://"):
        store.read_head(disk, 32)
    gone = BucketStore(objects, "no-such-bucket", "x", tmp_path / "cache")
    with pytest.raises(ImageStoreError, match="s3://no-such-bucket/x/"):
        gone.size(disk)
    with pytest.raises(ImageStoreError, match="could not be uploaded"):
        gone.copy_from(local_disk(tmp_path / "work", b"x"), disk)
    with pytest.raises(ImageStoreError, match="is not a disk"):
        store.path("eu-west-1/../../etc/passwd")


def test_read_head_is_a_ranged_read_remembered_per_disk(store, objects, tmp_path):
    disk = f"eu-west-1/{ami_id()}.qcow2"
    store.add(disk, local_disk(tmp_path / "work", qcow2_header(5 * GIB) + bytes(4096)))
    store.cached(disk).unlink()
    assert store.read_head(disk, 32) == qcow2_header(5 * GIB)
    objects.delete_object(BUCKET, f"amis/eu/{disk}")
    assert store.read_head(disk, 8) == qcow2_header(5 * GIB)[:8]  # disks never change
    assert objects.downloads == 0 and not store.cached(disk).exists()


def test_volume_size_comes_from_the_header_without_fetching_the_disk(objects, tmp_path):
    bucket = BucketStore(objects, BUCKET, "amis", tmp_path / "cache")
    stores = ImageStores.under(tmp_path / "data", {"eu-west-1": bucket})
    ami = ami_id()
    disk = stores.relative("eu-west-1", ami)
    stores.add(disk, local_disk(tmp_path / "work", qcow2_header(3 * GIB) + bytes(512)))
    bucket.cached(disk).unlink()
    row = Ami(ami, "111111111111", "eu-west-1", "web", disk, utcnow(), size=1024)
    assert volume_gib(stores, row) == 3
    assert objects.downloads == 0 and not bucket.cached(disk).exists()


def test_image_stores_copy_between_directory_and_bucket_regions(objects, tmp_path):
    bucket = BucketStore(objects, BUCKET, "amis", tmp_path / "cache")
    stores = ImageStores.under(tmp_path / "data", {"eu-west-1": bucket})
    source = stores.relative("us-east-1", ami_id())
    stores.add(source, local_disk(tmp_path / "work", b"from a directory"))
    assert isinstance(stores.for_region("us-east-1"), DirectoryStore)
    west = stores.copy(source, "eu-west-1", ami_id())
    assert objects.list_objects(BUCKET) == [f"amis/{west}"]
    assert stores.size(west) == len(b"from a directory")
    back = stores.copy(west, "us-east-1", ami_id())
    assert stores.path(back).read_bytes() == b"from a directory"
    assert stores.path(back).parent == tmp_path / "data" / "amis" / "us-east-1"
    stores.remove(west)
    assert objects.list_objects(BUCKET) == []


def test_open_builds_bucket_stores_only_for_existing_buckets(tmp_path):
    data = tmp_path / "data"
    resolver = Resolver(ObjectStoreConfig.local(data))
    resolver.for_bucket(BUCKET).create_bucket(BUCKET)
    stores = ImageStores.open(
        data,
        {"eu-west-1": BucketPrefix(BUCKET, "amis"), "eu-central-1": tmp_path / "central"},
        resolver,
    )
    west = stores.for_region("eu-west-1")
    assert isinstance(west, BucketStore) and west.location == f"s3://{BUCKET}/amis/"
    assert west.cache == data / "amis-cache" / BUCKET
    assert stores.for_region("eu-central-1").location == str(tmp_path / "central")
    with pytest.raises(ConfigurationError, match=r"'missing-amis'.*does not exist") as caught:
        ImageStores.open(data, {"eu-west-1": BucketPrefix("missing-amis")}, resolver)
    assert "create the bucket" in (caught.value.hint or "")


def test_a_copy_between_bucket_regions_on_one_server_is_server_side(objects, tmp_path):
    objects.create_bucket("kiln-amis-central")
    west = BucketStore(objects, BUCKET, "west", tmp_path / "cache")
    central = BucketStore(objects, "kiln-amis-central", "", tmp_path / "cache-central")
    stores = ImageStores.under(tmp_path / "data", {"eu-west-1": west, "eu-central-1": central})
    source = stores.relative("eu-west-1", ami_id())
    west.copy_from(local_disk(tmp_path / "work", b"bucket to bucket"), source)
    west.cached(source).unlink()
    same_region = stores.copy(source, "eu-west-1", ami_id())
    other_bucket = stores.copy(source, "eu-central-1", ami_id())
    assert objects.downloads == 0 and not west.cached(source).exists()
    assert objects.list_objects(BUCKET) == sorted([f"west/{source}", f"west/{same_region}"])
    assert objects.list_objects("kiln-amis-central") == [other_bucket]
    assert central.path(other_bucket).read_bytes() == b"bucket to bucket"
    elsewhere = BucketStore(LocalDirectoryStore(tmp_path / "other"), BUCKET, "", tmp_path / "c")
    with pytest.raises(ImageStoreError, match="different servers"):
        elsewhere.copy_object_from(west, source, stores.relative("eu-west-1", ami_id()))


def test_the_cache_keeps_its_limit_evicting_the_least_recently_used(objects, tmp_path):
    store = BucketStore(objects, BUCKET, "amis", tmp_path / "cache", cache_limit=250)
    disks = [f"eu-west-1/{ami_id()}.qcow2" for _ in range(3)]
    for disk in disks:
        objects.put_object(BUCKET, f"amis/{disk}", bytes(100))
    first_path, second_path = (store.path(disk) for disk in disks[:2])
    old = 1_000_000_000
    os.utime(first_path, (old, old))
    os.utime(second_path, (old + 10, old + 10))
    assert store.path(disks[0]) == first_path  # a use makes it the most recent
    third_path = store.path(disks[2])  # 300 bytes > 250: the least recently used goes
    assert third_path.is_file() and first_path.is_file() and not second_path.exists()
    assert objects.downloads == 3
    assert store.path(disks[1]).read_bytes() == bytes(100)  # fetched again on its next use
    assert objects.downloads == 4
    cached = sorted(tmp_path.joinpath("cache").rglob("*.qcow2"))
    assert sum(path.stat().st_size for path in cached) <= 250


def test_the_cache_limit_comes_from_the_settings(tmp_path):
    with pytest.raises(ConfigurationError, match="KILN_IMAGE_CACHE_GIB"):
        Settings.load(environ={"KILN_IMAGE_CACHE_GIB": "0"}, data_dir=tmp_path).image_cache_bytes()
    assert Settings.load(environ={}, data_dir=tmp_path).image_cache_bytes() == 64 * GIB
    loaded = Settings.load(environ={"KILN_IMAGE_CACHE_GIB": "2"}, data_dir=tmp_path)
    assert loaded.image_cache_bytes() == 2 * GIB
