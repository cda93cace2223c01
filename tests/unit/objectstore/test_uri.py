from __future__ import annotations

import pytest

from kiln.objectstore import InvalidS3Uri, format_s3_uri, parse_s3_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key", ("bucket", "key")),
        ("s3://my.bucket-1/path/to/doc.yaml", ("my.bucket-1", "path/to/doc.yaml")),
        ("s3://bucket/a?b#c", ("bucket", "a?b#c")),
        ("s3://bucket/with space", ("bucket", "with space")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected
    assert format_s3_uri(*expected) == uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://bucket.s3.amazonaws.com/key", "expected s3://bucket/key"),
        ("S3://bucket/key", "expected s3://bucket/key"),
        ("s3://", "names no bucket"),
        ("s3:///key", "names no bucket"),
        ("s3://bucket", "names no object"),
        ("s3://bucket/", "names no object"),
        ("s3://Bad_Bucket/key", "invalid bucket name"),
        ("s3://bucket/nul\0", "NUL"),
    ],
)
def test_parse_s3_uri_errors_say_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(InvalidS3Uri, match=message):
        parse_s3_uri(uri)


def test_a_bucket_alone_is_a_prefix_when_no_key_is_required() -> None:
    assert parse_s3_uri("s3://logs", require_key=False) == ("logs", "")
    assert parse_s3_uri("s3://logs/", require_key=False) == ("logs", "")
    assert parse_s3_uri("s3://logs/builds/", require_key=False) == ("logs", "builds/")
