"""S3Store: an ObjectStore on any S3-compatible server (AWS S3, SeaweedFS, MinIO) via botocore.

Uploads up to one part size go in a single PutObject; larger ones stream through a multipart
upload one part at a time (aborted on any failure), so memory stays at a few parts whatever the
object size. Part sizes grow every 1,000 parts so an upload of unknown length stays inside S3's
10,000-part limit. Downloads hand back the response body as a buffered stream. Listings come in
the server's order (key order on AWS S3, folders first on SeaweedFS); list_objects sorts.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from kiln.objectstore.errors import NoSuchBucket, NoSuchKey, ObjectStoreError
from kiln.objectstore.names import check_bucket, check_key
from kiln.objectstore.port import ObjectInfo, check_range

MiB = 1 << 20
MIN_PART_SIZE = 5 * MiB
DEFAULT_PART_SIZE = 8 * MiB
PARTS_PER_STEP = 1000
MAX_CONNECTIONS = 32
MAX_SINGLE_COPY = 5 * 1024 * MiB
"""CopyObject's limit; bigger objects are copied part by part (UploadPartCopy)."""
COPY_PART_SIZE = 512 * MiB
_NOT_FOUND = {"404", "NotFound", "NoSuchEntity"}


class S3Store:
    """An ObjectStore speaking the S3 API, signed with SigV4."""

    def __init__(
        self,
        endpoint_url: str | None,
        region: str,
        access_key: str,
        secret_key: str,
        *,
        session_token: str | None = None,
        addressing_style: str = "path",
        part_size: int = DEFAULT_PART_SIZE,
        page_size: int = 1000,
        verify: bool | str = True,
        single_copy_limit: int = MAX_SINGLE_COPY,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (the S3 minimum)")
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_size = part_size
        self.page_size = page_size
        self.single_copy_limit = single_copy_limit
        self._credentials = (access_key, secret_key, session_token)
        self._addressing_style = addressing_style
        self._verify = verify
        self._client_instance: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.endpoint_url or f"AWS S3 {self.region}"
        return f"S3Store({where!r}, access_key={self._credentials[0]!r})"

    @property
    def _client(self) -> Any:
        with self._lock:
            if self._client_instance is None:
                access_key, secret_key, token = self._credentials
                config = Config(
                    signature_version="s3v4",
                    s3={"addressing_style": self._addressing_style},
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=10,
                    read_timeout=120,
                    max_pool_connections=MAX_CONNECTIONS,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                self._client_instance = botocore.session.get_session().create_client(
                    "s3",
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    aws_access_key_id=access_key,
                    aws_secret_access_key=secret_key,
                    aws_session_token=token,
                    verify=self._verify,
                    config=config,
                )
            return self._client_instance

    def close(self) -> None:
        with self._lock:
            client, self._client_instance = self._client_instance, None
        if client is not None:
            client.close()

    def _call(self, operation: str, bucket: str, key: str | None = None, **params: Any) -> Any:
        """client.<operation>(**params) with botocore's errors turned into ObjectStoreError."""
        method: Callable[..., Any] = getattr(self._client, operation)
        try:
            return method(**params)
        except BotoClientError as exc:
            raise self._translate(exc, operation, bucket, key) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"{operation} on {_where(bucket, key)} at {self._endpoint}: {exc}",
                code="RequestFailed",
            ) from exc

    @property
    def _endpoint(self) -> str:
        return self.endpoint_url or f"s3.{self.region}.amazonaws.com"

    def _translate(
        self, exc: BotoClientError, operation: str, bucket: str, key: str | None
    ) -> ObjectStoreError:
        error: Mapping[str, Any] = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        if code == "NoSuchBucket":
            return NoSuchBucket(bucket)
        if code == "NoSuchKey" and key is not None:
            return NoSuchKey(bucket, key)
        message = error.get("Message") or "no message"
        return ObjectStoreError(
            f"{operation} on {_where(bucket, key)} at {self._endpoint} failed: {code}: {message}",
            code=code,
        )

    # buckets

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._call("head_bucket", check_bucket(bucket), Bucket=bucket)
        except NoSuchBucket:
            return False
        except ObjectStoreError as exc:
            if exc.code in _NOT_FOUND:
                return False
            raise
        return True

    def create_bucket(self, bucket: str) -> None:
        params: dict[str, Any] = {"Bucket": check_bucket(bucket)}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._call("create_bucket", bucket, **params)
        except ObjectStoreError as exc:
            if exc.code != "BucketAlreadyOwnedByYou":
                raise

    # objects

    def put_object(
        self, bucket: str, key: str, body: bytes | BinaryIO, *, content_type: str | None = None
    ) -> None:
        params: dict[str, Any] = {"Bucket": check_bucket(bucket), "Key": check_key(key)}
        if content_type:
            params["ContentType"] = content_type
        stream: BinaryIO = io.BytesIO(body) if isinstance(body, bytes) else body
        first = _read_full(stream, self.part_size)
        if len(first) < self.part_size:
            self._call("put_object", bucket, key, Body=first, **params)
            return
        self._multipart(params, first, stream)

    def _multipart(self, params: dict[str, Any], first: bytes, stream: BinaryIO) -> None:
        bucket, key = params["Bucket"], params["Key"]
        upload_id = self._call("create_multipart_upload", bucket, key, **params)["UploadId"]
        target = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        parts: list[dict[str, Any]] = []
        try:
            chunk = first
            while chunk:
                number = len(parts) + 1
                answer = self._call(
                    "upload_part", bucket, key, Body=chunk, PartNumber=number, **target
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                chunk = _read_full(stream, self.part_size * (1 + number // PARTS_PER_STEP))
            self._call(
                "complete_multipart_upload", bucket, key, MultipartUpload={"Parts": parts}, **target
            )
        except BaseException:
            with contextlib.suppress(ObjectStoreError):
                self._call("abort_multipart_upload", bucket, key, **target)
            raise

    def get_object(self, bucket: str, key: str) -> BinaryIO:
        answer = self._call(
            "get_object", check_bucket(bucket), check_key(key), Bucket=bucket, Key=key
        )
        return io.BufferedReader(_BodyReader(answer["Body"], f"s3://{bucket}/{key}"), MiB)

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        check_range(start, length)
        try:
            answer = self._call(
                "get_object",
                check_bucket(bucket),
                check_key(key),
                Bucket=bucket,
                Key=key,
                Range=f"bytes={start}-{start + length - 1}",
            )
        except ObjectStoreError as exc:
            if exc.code == "InvalidRange":  # the object ends before start
                return b""
            raise
        with io.BufferedReader(_BodyReader(answer["Body"], f"s3://{bucket}/{key}")) as body:
            # a server that ignores Range answers with the whole object: take only the range
            skip = 0 if "ContentRange" in answer else start
            while skip > 0 and (chunk := body.read(min(skip, MiB))):
                skip -= len(chunk)
            return _read_full(body, length)

    def copy_object(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        size = self.head_object(source_bucket, source_key).size
        params: dict[str, Any] = {"Bucket": check_bucket(bucket), "Key": check_key(key)}
        source = {"Bucket": source_bucket, "Key": source_key}
        if size > self.single_copy_limit:
            self._copy_parts(source, size, params)
            return
        try:
            self._call("copy_object", bucket, key, CopySource=source, **params)
        except NoSuchBucket:
            raise
        except ObjectStoreError as exc:
            if not self.bucket_exists(bucket):  # SeaweedFS answers InternalError for this
                raise NoSuchBucket(bucket) from exc
            raise

    def _copy_parts(self, source: dict[str, str], size: int, params: dict[str, Any]) -> None:
        bucket, key = params["Bucket"], params["Key"]
        upload_id = self._call("create_multipart_upload", bucket, key, **params)["UploadId"]
        target = {**params, "UploadId": upload_id}
        step = max(MIN_PART_SIZE, min(COPY_PART_SIZE, self.single_copy_limit))
        parts: list[dict[str, Any]] = []
        try:
            for number, start in enumerate(range(0, size, step), start=1):
                end = min(start + step, size) - 1
                answer = self._call(
                    "upload_part_copy",
                    bucket,
                    key,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                    PartNumber=number,
                    **target,
                )
                parts.append({"ETag": answer["CopyPartResult"]["ETag"], "PartNumber": number})
            self._call(
                "complete_multipart_upload", bucket, key, MultipartUpload={"Parts": parts}, **target
            )
        except BaseException:
            with contextlib.suppress(ObjectStoreError):
                self._call("abort_multipart_upload", bucket, key, **target)
            raise

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        try:
            answer = self._call(
                "head_object", check_bucket(bucket), check_key(key), Bucket=bucket, Key=key
            )
        except ObjectStoreError as exc:
            if exc.code not in _NOT_FOUND:
                raise
            if not self.bucket_exists(bucket):  # a HEAD 404 has no body to say which is missing
                raise NoSuchBucket(bucket) from exc
            raise NoSuchKey(bucket, key) from exc
        return ObjectInfo(
            key=key,
            size=int(answer["ContentLength"]),
            etag=str(answer.get("ETag", "")),
            last_modified=answer["LastModified"],
            content_type=answer.get("ContentType"),
        )

    def iter_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        page = self._list_page(check_bucket(bucket), prefix, None)  # errors now, not at next()
        return self._iterate(bucket, prefix, page)

    def _iterate(self, bucket: str, prefix: str, page: Mapping[str, Any]) -> Iterator[ObjectInfo]:
        while True:
            for item in page.get("Contents", ()):
                yield ObjectInfo(
                    key=item["Key"],
                    size=int(item["Size"]),
                    etag=str(item.get("ETag", "")),
                    last_modified=item["LastModified"],
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            page = self._list_page(bucket, prefix, token)

    def _list_page(self, bucket: str, prefix: str, token: str | None) -> Mapping[str, Any]:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        if token:
            params["ContinuationToken"] = token
        page: Mapping[str, Any] = self._call("list_objects_v2", bucket, **params)
        return page

    def list_objects(self, bucket: str, prefix: str = "") -> list[str]:
        # sorted here because not every S3-compatible server lists in key order (SeaweedFS
        # walks its folders first)
        return sorted(info.key for info in self.iter_objects(bucket, prefix))

    def delete_object(self, bucket: str, key: str) -> None:
        self._call("delete_object", check_bucket(bucket), check_key(key), Bucket=bucket, Key=key)


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a raw stream whose failures are ObjectStoreError."""

    def __init__(self, body: Any, name: str) -> None:
        self._body = body
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"reading {self._name} failed: {exc}", code="ReadFailed"
            ) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Up to size bytes: fewer only at the end of the stream."""
    chunks: list[bytes] = []
    wanted = size
    while wanted > 0:
        chunk = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _where(bucket: str, key: str | None) -> str:
    return f"s3://{bucket}/{key}" if key is not None else f"bucket {bucket!r}"
