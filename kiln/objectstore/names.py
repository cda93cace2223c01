"""Bucket names and object keys every backend accepts: the S3 naming rules."""

from __future__ import annotations

import re

from kiln.objectstore.errors import InvalidName

MAX_KEY_BYTES = 1024

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")


def check_bucket(bucket: str) -> str:
    """The bucket name, if S3 would accept it for a new bucket; else InvalidName."""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP_ADDRESS.fullmatch(bucket):
        raise InvalidName(
            f"invalid bucket name {bucket!r}: use 3-63 lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit",
            code="InvalidBucketName",
        )
    return bucket


def check_key(key: str) -> str:
    """The key, if it is 1-1024 bytes of UTF-8 without NUL; else InvalidName."""
    if not key:
        raise InvalidName("an object key must not be empty")
    if "\0" in key:
        raise InvalidName(f"object key {key!r} contains a NUL byte")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidName(f"object key {key!r} is not valid UTF-8") from exc
    if size > MAX_KEY_BYTES:
        raise InvalidName(f"object key is {size} bytes long; the limit is {MAX_KEY_BYTES}")
    return key
