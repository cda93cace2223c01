"""Where S3 locations in Kiln resolve to: log buckets, S3Download/S3Upload, component URIs.

    ObjectStore (port)       bucket_exists, create_bucket, put/get/head/iter/list/delete objects,
                             read_range (a ranged GET), copy_object (server-side)
    LocalDirectoryStore      buckets as folders under a root (the default: <data_dir>/objects)
    S3Store                  any S3-compatible server through botocore, SigV4, multipart uploads
    ObjectStoreConfig        a default backend plus per-bucket overrides, from KILN_S3_* variables
    Resolver                 bucket -> ObjectStore; read_uri(s3://...) for size-capped documents
    BucketPrefix             s3://bucket/prefix as a value (parse_s3_prefix), keys beneath it

Errors (all ObjectStoreError): NoSuchBucket, NoSuchKey, InvalidName, InvalidS3Uri, ObjectTooLarge.
"""

from kiln.objectstore.config import LocalBackend, ObjectStoreConfig, S3Backend
from kiln.objectstore.errors import (
    InvalidName,
    InvalidS3Uri,
    NoSuchBucket,
    NoSuchKey,
    ObjectStoreError,
    ObjectTooLarge,
)
from kiln.objectstore.local import LocalDirectoryStore
from kiln.objectstore.port import ObjectInfo, ObjectStore
from kiln.objectstore.resolver import (
    DOCUMENT_LIMIT,
    Resolver,
    environ_resolver,
    open_backend,
    read_uri,
)
from kiln.objectstore.s3 import S3Store
from kiln.objectstore.uri import BucketPrefix, format_s3_uri, parse_s3_prefix, parse_s3_uri

__all__ = [
    "DOCUMENT_LIMIT",
    "BucketPrefix",
    "InvalidName",
    "InvalidS3Uri",
    "LocalBackend",
    "LocalDirectoryStore",
    "NoSuchBucket",
    "NoSuchKey",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreConfig",
    "ObjectStoreError",
    "ObjectTooLarge",
    "Resolver",
    "S3Backend",
    "S3Store",
    "environ_resolver",
    "format_s3_uri",
    "open_backend",
    "parse_s3_prefix",
    "parse_s3_uri",
    "read_uri",
]
