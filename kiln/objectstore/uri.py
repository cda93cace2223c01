"""s3://bucket/key URIs, the way Image Builder resources name objects."""

from __future__ import annotations

from kiln.objectstore.errors import InvalidName, InvalidS3Uri
from kiln.objectstore.names import check_bucket, check_key

SCHEME = "s3://"


def parse_s3_uri(uri: str, *, require_key: bool = True) -> tuple[str, str]:
    """(bucket, key) of an s3://bucket/key URI; the key is taken literally ('?' and '#' included).

    With require_key=False, s3://bucket and s3://bucket/ give an empty key (a prefix for logs).
    """
    if not uri.startswith(SCHEME):
        raise InvalidS3Uri(f"{uri!r} is not an S3 URI: expected s3://bucket/key")
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise InvalidS3Uri(f"{uri!r} names no bucket: expected s3://bucket/key")
    try:
        check_bucket(bucket)
        if key or require_key:
            if not key:
                raise InvalidS3Uri(f"{uri!r} names no object: expected s3://bucket/key")
            check_key(key)
    except InvalidName as exc:
        raise InvalidS3Uri(f"{uri!r} is not a valid S3 URI: {exc}") from exc
    return bucket, key


def format_s3_uri(bucket: str, key: str = "") -> str:
    return f"{SCHEME}{bucket}/{key}"
