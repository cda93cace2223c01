"""BucketStore on a real S3 server (SeaweedFS, SigV4): a disk bigger than a part goes up in a
multipart upload, comes back whole through the cache, its header by a ranged GET; copies between
a directory region and the bucket region work both ways; a missing bucket stops Kiln at start."""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.amis.bucket_store import BucketStore
from kiln.amis.disks import ImageStoreError
from kiln.amis.stores import ImageStores
from kiln.core.errors import ConfigurationError
from kiln.core.ids import ami_id
from kiln.objectstore import BucketPrefix, ObjectStoreConfig, Resolver, S3Backend, S3Store
from tests.integration.objectstore.conftest import PART_SIZE, REGION, s3_store
from tests.integration.objectstore.seaweed import SeaweedServer

GIB = 1024**3


@pytest.fixture
def s3(seaweed: SeaweedServer) -> Iterator[S3Store]:
    made = s3_store(seaweed)
    yield made
    made.close()


@pytest.fixture
def bucket(s3: S3Store) -> str:
    name = f"kiln-amis-{secrets.token_hex(6)}"
    s3.create_bucket(name)
    return name


def disk_file(folder: Path, size: int, virtual_size: int = 2 * GIB) -> Path:
    """A qcow2-headed file of `size` bytes whose content differs per MiB."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ami_id()}.qcow2"
    header = b"QFI\xfb" + struct.pack(">I", 3) + bytes(16) + struct.pack(">Q", virtual_size)
    with path.open("wb") as out:
        out.write(header)
        block = 0
        while out.tell() < size:
            out.write(hashlib.sha256(str(block).encode()).digest() * 2048)
            block += 1
        out.truncate(size)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_disk_bigger_than_a_part_round_trips_through_the_bucket(s3, bucket, tmp_path):
    store = BucketStore(s3, bucket, "amis/eu", tmp_path / "cache")
    disk = f"eu-west-1/{ami_id()}.qcow2"
    source = disk_file(tmp_path / "work", 2 * PART_SIZE + 12345, virtual_size=7 * GIB)
    expected = digest(source)
    store.add(disk, source)
    info = s3.head_object(bucket, f"amis/eu/{disk}")
    assert info.size == 2 * PART_SIZE + 12345
    assert "-" in info.etag.strip('"')  # a multipart upload's ETag
    assert store.size(disk) == info.size
    store.cached(disk).unlink()
    head = store.read_head(disk, 32)
    assert struct.unpack(">Q", head[24:32])[0] == 7 * GIB
    assert not store.cached(disk).exists()  # the header did not fetch the disk
    assert digest(store.path(disk)) == expected
    store.remove(disk)
    assert s3.list_objects(bucket) == [] and store.size(disk) == 0


def test_copies_between_a_directory_region_and_a_bucket_region(s3, bucket, tmp_path):
    west = BucketStore(s3, bucket, "", tmp_path / "cache")
    stores = ImageStores.under(tmp_path / "data", {"eu-west-1": west})
    source = stores.relative("us-east-1", ami_id())
    stores.add(source, disk_file(tmp_path / "work", PART_SIZE // 2))
    copied = stores.copy(source, "eu-west-1", ami_id())
    assert s3.list_objects(bucket) == [copied]
    west.cached(copied).unlink()  # the way back fetches from the server
    back = stores.copy(copied, "us-east-1", ami_id())
    assert digest(stores.path(back)) == digest(stores.path(source))


def test_a_missing_bucket_is_an_error_naming_the_location(s3, tmp_path):
    store = BucketStore(s3, f"kiln-missing-{secrets.token_hex(6)}", "amis", tmp_path / "cache")
    with pytest.raises(ImageStoreError, match=r"s3://kiln-missing-[0-9a-f]+/amis/eu-west-1/"):
        store.path(f"eu-west-1/{ami_id()}.qcow2")


def test_open_refuses_a_missing_or_unreachable_bucket(seaweed: SeaweedServer, tmp_path, bucket):
    backend = S3Backend(seaweed.endpoint_url, seaweed.access_key, seaweed.secret_key, REGION)
    resolver = Resolver(ObjectStoreConfig(default=backend))
    try:
        stores = ImageStores.open(tmp_path, {"eu-west-1": BucketPrefix(bucket, "amis")}, resolver)
        assert stores.for_region("eu-west-1").location == f"s3://{bucket}/amis/"
        with pytest.raises(ConfigurationError, match="does not exist"):
            ImageStores.open(tmp_path, {"eu-west-1": BucketPrefix("kiln-none-here")}, resolver)
    finally:
        resolver.close()
    wrong = S3Backend(seaweed.endpoint_url, seaweed.access_key, "not-the-secret", REGION)
    refused = Resolver(ObjectStoreConfig(default=wrong))
    try:
        with pytest.raises(ConfigurationError, match="cannot be checked"):
            ImageStores.open(tmp_path, {"eu-west-1": BucketPrefix(bucket)}, refused)
    finally:
        refused.close()
