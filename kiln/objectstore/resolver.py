"""Resolver: the ObjectStore serving a bucket; read_uri for documents named by s3:// URIs."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from kiln.objectstore.config import Backend, LocalBackend, ObjectStoreConfig
from kiln.objectstore.errors import ObjectTooLarge
from kiln.objectstore.local import LocalDirectoryStore
from kiln.objectstore.names import check_bucket
from kiln.objectstore.port import ObjectStore
from kiln.objectstore.s3 import S3Store
from kiln.objectstore.uri import parse_s3_uri

DOCUMENT_LIMIT = 16 * 1024 * 1024


def open_backend(backend: Backend) -> ObjectStore:
    if isinstance(backend, LocalBackend):
        return LocalDirectoryStore(backend.root)
    return S3Store(
        backend.endpoint_url,
        backend.region,
        backend.access_key,
        backend.secret_key,
        addressing_style=backend.addressing_style,
    )


class Resolver:
    """One store per distinct backend, made on first use and shared by its buckets."""

    def __init__(
        self,
        config: ObjectStoreConfig,
        *,
        opener: Callable[[Backend], ObjectStore] = open_backend,
    ) -> None:
        self.config = config
        self._opener = opener
        self._stores: dict[Backend, ObjectStore] = {}
        self._lock = threading.Lock()

    def for_bucket(self, bucket: str) -> ObjectStore:
        backend = self.config.backend_for(check_bucket(bucket))
        with self._lock:
            store = self._stores.get(backend)
            if store is None:
                store = self._stores[backend] = self._opener(backend)
            return store

    # The component runner's ObjectStore port (S3Download / S3Upload): each call goes to the
    # backend that serves its bucket.

    def get_object(self, bucket: str, key: str) -> BinaryIO:
        return self.for_bucket(bucket).get_object(bucket, key)

    def put_object(self, bucket: str, key: str, body: BinaryIO) -> None:
        self.for_bucket(bucket).put_object(bucket, key, body)

    def list_objects(self, bucket: str, prefix: str) -> list[str]:
        return self.for_bucket(bucket).list_objects(bucket, prefix)

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            if isinstance(store, S3Store):
                store.close()


def environ_resolver(data_dir: Path, region: str) -> Resolver:
    """The resolver a Kiln process uses: KILN_S3_* from the environment, else local buckets."""
    return Resolver(ObjectStoreConfig.from_environ(os.environ, data_dir=data_dir, region=region))


def read_uri(uri: str, resolver: Resolver, *, max_bytes: int = DOCUMENT_LIMIT) -> bytes:
    """The whole object an s3:// URI names, refused with ObjectTooLarge past max_bytes."""
    bucket, key = parse_s3_uri(uri)
    with resolver.for_bucket(bucket).get_object(bucket, key) as body:
        data = body.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ObjectTooLarge(f"{uri} is larger than the {max_bytes}-byte limit for documents")
    return data
