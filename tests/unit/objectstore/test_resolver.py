from __future__ import annotations

from pathlib import Path

import pytest

from kiln.objectstore import (
    InvalidName,
    LocalBackend,
    LocalDirectoryStore,
    NoSuchKey,
    ObjectStoreConfig,
    ObjectTooLarge,
    Resolver,
    S3Backend,
    S3Store,
    read_uri,
)


def test_buckets_resolve_to_their_backend_and_stores_are_shared(tmp_path: Path) -> None:
    remote = S3Backend("http://127.0.0.1:1", "AK", "SK")
    config = ObjectStoreConfig(LocalBackend(tmp_path), {"remote-bucket": remote})
    resolver = Resolver(config)
    local = resolver.for_bucket("logs")
    assert isinstance(local, LocalDirectoryStore)
    assert local.root == tmp_path
    assert resolver.for_bucket("other") is local
    s3 = resolver.for_bucket("remote-bucket")
    assert isinstance(s3, S3Store)
    assert s3.endpoint_url == "http://127.0.0.1:1"
    resolver.close()


def test_a_bad_bucket_name_is_refused_before_any_store_is_made(tmp_path: Path) -> None:
    with pytest.raises(InvalidName):
        Resolver(ObjectStoreConfig.local(tmp_path)).for_bucket("../etc")


def test_read_uri_reads_documents_up_to_the_cap(tmp_path: Path) -> None:
    resolver = Resolver(ObjectStoreConfig.local(tmp_path))
    store = resolver.for_bucket("components")
    store.create_bucket("components")
    store.put_object("components", "doc.yaml", b"x" * 100)
    assert read_uri("s3://components/doc.yaml", resolver, max_bytes=100) == b"x" * 100
    with pytest.raises(ObjectTooLarge, match="99-byte limit"):
        read_uri("s3://components/doc.yaml", resolver, max_bytes=99)
    with pytest.raises(NoSuchKey):
        read_uri("s3://components/missing.yaml", resolver)
    assert (tmp_path / "objects" / "components" / "doc.yaml").is_file()
