"""One contract for every ObjectStore backend: what S3 does, the local folder store does too."""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kiln.objectstore import (
    NoSuchBucket,
    NoSuchKey,
    ObjectStore,
    ObjectStoreError,
    S3Store,
)
from kiln.toe.objectstore import ObjectStore as ToeObjectStore
from tests.integration.objectstore.conftest import s3_store
from tests.integration.objectstore.seaweed import SeaweedServer

logger = logging.getLogger(__name__)

MiB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """size pseudo-random bytes made on the fly: never held in memory at once."""

    def __init__(self, size: int, seed: bytes = b"kiln") -> None:
        self._left = size
        self._block = hashlib.sha256(seed).digest() * (MiB // 32)
        self._counter = 0
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._left, MiB - self._offset)
        if size <= 0:
            return 0
        view[:size] = self._current()[self._offset : self._offset + size]
        self._offset += size
        self._left -= size
        if self._offset == MiB:
            self._offset = 0
            self._counter += 1
        return size

    def _current(self) -> bytes:
        # each MiB differs, so a misplaced part would change the digest
        return self._counter.to_bytes(8, "big") + self._block[8:]


def generated_digest(size: int) -> str:
    digest = hashlib.sha256()
    stream = GeneratedStream(size)
    while chunk := stream.read(MiB):
        digest.update(chunk)
    return digest.hexdigest()


def test_backends_satisfy_the_component_runner_port(store: ObjectStore) -> None:
    port: ToeObjectStore = store  # checked by mypy: S3Download/S3Upload can use every backend
    assert callable(port.get_object)


def test_put_then_get_bytes_and_streams(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "greeting.txt", b"hello")
    store.put_object(bucket, "deep/er/stream.bin", io.BytesIO(b"\x00\x01streamed"))
    with store.get_object(bucket, "greeting.txt") as body:
        assert body.read() == b"hello"
    with store.get_object(bucket, "deep/er/stream.bin") as body:
        assert body.read() == b"\x00\x01streamed"


def test_put_replaces_and_empty_objects_exist(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "k", b"first version")
    first = store.head_object(bucket, "k")
    store.put_object(bucket, "k", b"second")
    store.put_object(bucket, "empty", b"")
    with store.get_object(bucket, "k") as body:
        assert body.read() == b"second"
    assert store.head_object(bucket, "k").etag != first.etag
    assert store.head_object(bucket, "empty").size == 0
    with store.get_object(bucket, "empty") as body:
        assert body.read() == b""


def test_head_reports_size_etag_time_and_content_type(store: ObjectStore, bucket: str) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    store.put_object(bucket, "doc.yaml", b"name: x\n", content_type="application/x-yaml")
    info = store.head_object(bucket, "doc.yaml")
    assert info.key == "doc.yaml"
    assert info.size == 8
    assert info.etag.strip('"') == hashlib.md5(b"name: x\n").hexdigest()
    assert before <= info.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
    assert info.content_type == "application/x-yaml"


def test_keys_with_unusual_characters_round_trip(store: ObjectStore, bucket: str) -> None:
    keys = ["with space/and+plus", "ünïcödé/日本", "q?x=1#frag", "percent%20sign", "a.b/.hidden"]
    for key in keys:
        store.put_object(bucket, key, key.encode())
    assert store.list_objects(bucket) == sorted(keys)
    for key in keys:
        with store.get_object(bucket, key) as body:
            assert body.read() == key.encode()


def test_list_filters_by_prefix_in_key_order(store: ObjectStore, bucket: str) -> None:
    keys = ["a/1", "a/2", "a-b", "ab", "b/c/d", "b/c/e", "a/sub/x"]
    for key in keys:
        store.put_object(bucket, key, b"x" * len(key))
    assert store.list_objects(bucket) == sorted(keys)
    assert store.list_objects(bucket, "a/") == ["a/1", "a/2", "a/sub/x"]
    assert store.list_objects(bucket, "a") == ["a-b", "a/1", "a/2", "a/sub/x", "ab"]
    assert store.list_objects(bucket, "b/c/") == ["b/c/d", "b/c/e"]
    assert store.list_objects(bucket, "a/s") == ["a/sub/x"]
    assert store.list_objects(bucket, "zzz") == []
    infos = sorted(store.iter_objects(bucket, "a"), key=lambda info: info.key)
    assert [(i.key, i.size) for i in infos] == [
        ("a-b", 3),
        ("a/1", 3),
        ("a/2", 3),
        ("a/sub/x", 7),
        ("ab", 2),
    ]
    assert all(i.etag and i.last_modified.tzinfo for i in infos)


def test_listing_pages_past_a_thousand_keys(store: ObjectStore, bucket: str) -> None:
    keys = [f"many/{n:05d}" for n in range(1001)] + ["other/x"]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.put_object(bucket, key, b"."), keys))
    logger.warning("%s: 1002 puts in %.2fs", type(store).__name__, time.monotonic() - started)
    assert store.list_objects(bucket, "many/") == keys[:-1]
    assert sum(1 for _ in store.iter_objects(bucket)) == 1002


def test_delete_removes_and_tolerates_missing_keys(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "dir/one", b"1")
    store.put_object(bucket, "dir/two", b"2")
    store.delete_object(bucket, "dir/one")
    store.delete_object(bucket, "dir/one")
    store.delete_object(bucket, "never/was")
    assert store.list_objects(bucket) == ["dir/two"]
    with pytest.raises(NoSuchKey):
        store.get_object(bucket, "dir/one")


def test_missing_bucket_is_no_such_bucket(store: ObjectStore) -> None:
    missing = f"kiln-missing-{secrets.token_hex(6)}"
    assert store.bucket_exists(missing) is False
    with pytest.raises(NoSuchBucket):
        store.put_object(missing, "k", b"x")
    with pytest.raises(NoSuchBucket):
        store.get_object(missing, "k")
    with pytest.raises(NoSuchBucket):
        store.head_object(missing, "k")
    with pytest.raises(NoSuchBucket):
        store.list_objects(missing, "")
    with pytest.raises(NoSuchBucket):
        store.iter_objects(missing)
    with pytest.raises(NoSuchBucket):
        store.delete_object(missing, "k")


def test_missing_key_is_no_such_key(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "there/file", b"x")
    for key in ("absent", "there", "there/file/below"):
        with pytest.raises(NoSuchKey) as caught:
            store.get_object(bucket, key)
        assert caught.value.bucket == bucket
        assert caught.value.key == key
        with pytest.raises(NoSuchKey):
            store.head_object(bucket, key)


def test_read_range_reads_only_the_range(store: ObjectStore, bucket: str) -> None:
    body = bytes(range(256)) * 64
    store.put_object(bucket, "disk.qcow2", body)
    assert store.read_range(bucket, "disk.qcow2", 0, 32) == body[:32]
    assert store.read_range(bucket, "disk.qcow2", 1000, 100) == body[1000:1100]
    assert store.read_range(bucket, "disk.qcow2", len(body) - 10, 100) == body[-10:]
    assert store.read_range(bucket, "disk.qcow2", len(body) + 5, 10) == b""
    store.put_object(bucket, "empty", b"")
    assert store.read_range(bucket, "empty", 0, 32) == b""
    with pytest.raises(NoSuchKey):
        store.read_range(bucket, "absent", 0, 32)
    with pytest.raises(NoSuchBucket):
        store.read_range(f"kiln-missing-{secrets.token_hex(6)}", "k", 0, 1)
    with pytest.raises(ValueError):
        store.read_range(bucket, "disk.qcow2", -1, 10)


def test_copy_object_within_and_across_buckets(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "a/disk.qcow2", b"disk bytes", content_type="application/x-test")
    store.put_object(bucket, "b/disk.qcow2", b"to be replaced")
    store.copy_object(bucket, "a/disk.qcow2", bucket, "b/disk.qcow2")
    other = f"kiln-test-{secrets.token_hex(6)}"
    store.create_bucket(other)
    store.copy_object(bucket, "a/disk.qcow2", other, "c/disk.qcow2")
    for where, key in ((bucket, "a/disk.qcow2"), (bucket, "b/disk.qcow2"), (other, "c/disk.qcow2")):
        with store.get_object(where, key) as body:
            assert body.read() == b"disk bytes"
    assert store.head_object(other, "c/disk.qcow2").content_type == "application/x-test"
    with pytest.raises(NoSuchKey):
        store.copy_object(bucket, "absent", bucket, "d")
    with pytest.raises(NoSuchBucket):
        store.copy_object(bucket, "a/disk.qcow2", f"kiln-missing-{secrets.token_hex(6)}", "d")
    assert store.list_objects(bucket) == ["a/disk.qcow2", "b/disk.qcow2"]


def test_s3_copies_big_objects_part_by_part(seaweed: SeaweedServer) -> None:
    store = s3_store(seaweed, single_copy_limit=5 * MiB)
    bucket = f"kiln-test-{secrets.token_hex(6)}"
    store.create_bucket(bucket)
    size = 12 * MiB + 3
    store.put_object(bucket, "big", GeneratedStream(size))
    store.copy_object(bucket, "big", bucket, "copy")
    digest = hashlib.sha256()
    with store.get_object(bucket, "copy") as body:
        while chunk := body.read(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == generated_digest(size)
    assert store.head_object(bucket, "copy").etag.strip('"').endswith("-3")
    store.close()


def test_create_bucket_is_idempotent(store: ObjectStore, bucket: str) -> None:
    assert store.bucket_exists(bucket)
    store.put_object(bucket, "kept", b"x")
    store.create_bucket(bucket)
    assert store.list_objects(bucket) == ["kept"]


@pytest.mark.slow
def test_large_object_streams_with_bounded_memory(store: ObjectStore, bucket: str) -> None:
    size = 64 * MiB
    expected = generated_digest(size)
    tracemalloc.start()
    try:
        started = time.monotonic()
        store.put_object(bucket, "large.bin", io.BufferedReader(GeneratedStream(size)))
        put_seconds = time.monotonic() - started
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        started = time.monotonic()
        digest = hashlib.sha256()
        with store.get_object(bucket, "large.bin") as body:
            while chunk := body.read(MiB):
                digest.update(chunk)
        get_seconds = time.monotonic() - started
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    logger.warning(
        "%s: 64 MiB put %.2fs (peak %.1f MiB), get %.2fs (peak %.1f MiB)",
        type(store).__name__,
        put_seconds,
        put_peak / MiB,
        get_seconds,
        get_peak / MiB,
    )
    assert digest.hexdigest() == expected
    assert store.head_object(bucket, "large.bin").size == size
    assert put_peak < 32 * MiB  # S3: about four 5 MiB parts in flight inside botocore
    assert get_peak < 8 * MiB


def test_wrong_secret_is_rejected_by_the_server(seaweed: SeaweedServer) -> None:
    good = s3_store(seaweed)
    name = f"kiln-test-{secrets.token_hex(6)}"
    good.create_bucket(name)
    good.put_object(name, "secret", b"x")
    forged = S3Store(seaweed.endpoint_url, "us-east-1", seaweed.access_key, "not-the-secret")
    with pytest.raises(ObjectStoreError) as caught:
        forged.list_objects(name, "")
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "SignatureDoesNotMatch" in str(caught.value)
    with pytest.raises(ObjectStoreError) as caught:
        forged.put_object(name, "secret", b"overwritten")
    assert caught.value.code == "SignatureDoesNotMatch"
    with good.get_object(name, "secret") as body:
        assert body.read() == b"x"
    good.close()
    forged.close()


def test_s3_pages_follow_the_page_size(seaweed: SeaweedServer) -> None:
    small_pages = s3_store(seaweed, page_size=3)
    name = f"kiln-test-{secrets.token_hex(6)}"
    small_pages.create_bucket(name)
    keys = [f"p/{n:02d}" for n in range(10)] + ["q"]
    for key in keys:
        small_pages.put_object(name, key, b"x")
    calls: list[object] = []
    small_pages._client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **kwargs: calls.append(kwargs)
    )
    assert small_pages.list_objects(name, "p/") == keys[:-1]
    assert len(calls) == 4
    small_pages.close()
