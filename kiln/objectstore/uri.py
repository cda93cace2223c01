"""s3://bucket/key URIs, the way Image Builder resources name objects."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class BucketPrefix:
    """A folder-like place in a bucket: keys under it are `<prefix>/<name>` (or `<name>`)."""

    bucket: str
    prefix: str = ""

    @property
    def uri(self) -> str:
        return format_s3_uri(self.bucket, f"{self.prefix}/" if self.prefix else "")

    def key(self, name: str) -> str:
        return check_key(f"{self.prefix}/{name}" if self.prefix else name)


def parse_s3_prefix(uri: str) -> BucketPrefix:
    """s3://bucket or s3://bucket/some/prefix[/]: every prefix segment a plain name
    (no empty, '.' or '..' segment), so each backend maps it to the same keys."""
    bucket, key = parse_s3_uri(uri, require_key=False)
    prefix = key.removesuffix("/")
    if prefix:
        if any(segment in ("", ".", "..") for segment in prefix.split("/")):
            raise InvalidS3Uri(
                f"{uri!r} has an empty, '.' or '..' segment in its prefix: "
                "expected s3://bucket/folder/folder"
            )
        try:
            check_key(prefix)
        except InvalidName as exc:
            raise InvalidS3Uri(f"{uri!r} is not a valid S3 prefix: {exc}") from exc
    return BucketPrefix(bucket, prefix)
