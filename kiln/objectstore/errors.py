"""The errors of the object store, shared by every backend.

ObjectStoreError        the store refused or failed an operation; `code` is the S3 error code
├── NoSuchBucket        the bucket does not exist
├── NoSuchKey           the bucket exists, the key does not
├── InvalidName         a bucket name or key the store will not accept (path escapes included)
├── InvalidS3Uri        a string that is not an s3://bucket/key URI
└── ObjectTooLarge      an object is bigger than the caller's cap
"""

from __future__ import annotations

from kiln.core.errors import KilnError


class ObjectStoreError(KilnError):
    """An object store refused or failed an operation."""

    code: str = "ObjectStoreError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NoSuchBucket(ObjectStoreError):
    code = "NoSuchBucket"

    def __init__(self, bucket: str) -> None:
        super().__init__(f"bucket {bucket!r} does not exist")
        self.bucket = bucket


class NoSuchKey(ObjectStoreError):
    code = "NoSuchKey"

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} does not exist")
        self.bucket = bucket
        self.key = key


class InvalidName(ObjectStoreError):
    code = "InvalidArgument"


class InvalidS3Uri(ObjectStoreError):
    code = "InvalidURI"


class ObjectTooLarge(ObjectStoreError):
    code = "EntityTooLarge"
