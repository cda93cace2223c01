"""The ObjectStore port: the part of S3 Kiln uses, and ObjectInfo, what a store says of an object.

Structurally a superset of kiln.toe.objectstore.ObjectStore, so every backend here can serve the
component runner's S3Download and S3Upload unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str | None = None
    """Known from head_object; listings leave it None."""


class ObjectStore(Protocol):
    """Buckets of objects addressed by key. Every method raises ObjectStoreError subclasses."""

    def bucket_exists(self, bucket: str) -> bool: ...

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket; a bucket that exists already is left as it is."""
        ...

    def put_object(
        self, bucket: str, key: str, body: bytes | BinaryIO, *, content_type: str | None = None
    ) -> None:
        """Store body (read to its end in bounded chunks) under bucket/key, replacing any object."""
        ...

    def get_object(self, bucket: str, key: str) -> BinaryIO:
        """A readable stream of the object's bytes; close it (it is a context manager)."""
        ...

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        """Up to `length` bytes of the object from offset `start` (fewer where it ends sooner,
        none past its end): a header without fetching the whole object."""
        ...

    def copy_object(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        """Copy an object within the store (server-side on S3), replacing any at bucket/key."""
        ...

    def head_object(self, bucket: str, key: str) -> ObjectInfo: ...

    def iter_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with prefix, fetched page by page, in the backend's order.

        That is UTF-8 key order for the local store and AWS S3; some S3-compatible servers
        (SeaweedFS) list each folder's contents before the keys that sort between them.
        """
        ...

    def list_objects(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys starting with prefix, sorted."""
        ...

    def delete_object(self, bucket: str, key: str) -> None:
        """Remove the object; a missing key is not an error (as in S3), a missing bucket is."""
        ...


def check_range(start: int, length: int) -> None:
    """The arguments of `read_range`, as every backend takes them."""
    if start < 0 or length < 1:
        raise ValueError(f"a range needs start >= 0 and length >= 1, not {start}, {length}")
