"""The ObjectStore port used by S3Download and S3Upload, and an in-memory implementation."""

from __future__ import annotations

import io
import threading
from typing import BinaryIO, Protocol

from kiln.core.errors import KilnError


class ObjectStoreError(KilnError):
    """An object is missing or the store refused the operation."""


class ObjectStore(Protocol):
    """Just enough of S3 for the component modules."""

    def get_object(self, bucket: str, key: str) -> BinaryIO:
        """A readable stream of the object's bytes; raises ObjectStoreError when missing."""
        ...

    def put_object(self, bucket: str, key: str, body: BinaryIO) -> None:
        """Store the stream's bytes under bucket/key."""
        ...

    def list_objects(self, bucket: str, prefix: str) -> list[str]:
        """Keys of the bucket starting with prefix, sorted."""
        ...


class MemoryObjectStore:
    """Objects kept in a dict; for tests and small single-process use."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def get_object(self, bucket: str, key: str) -> BinaryIO:
        with self._lock:
            data = self._objects.get((bucket, key))
        if data is None:
            raise ObjectStoreError(f"s3://{bucket}/{key} does not exist")
        return io.BytesIO(data)

    def put_object(self, bucket: str, key: str, body: BinaryIO) -> None:
        data = body.read()
        with self._lock:
            self._objects[(bucket, key)] = data

    def list_objects(self, bucket: str, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for b, k in self._objects if b == bucket and k.startswith(prefix))
