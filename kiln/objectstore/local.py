"""LocalDirectoryStore: buckets are folders under a root, keys are files beneath them.

A key maps segment by segment onto a path below its bucket folder, so nothing a key says may leave
that folder: empty, '.' and '..' segments, leading slashes and NUL bytes are refused, and the
resolved path must be the literal one (no symlink anywhere beneath the bucket folder). Objects are
written to a temp file under <root>/.tmp (never a bucket: bucket names cannot start with '.'),
fsynced and renamed into place, so a reader sees the old object or the new one, never a mix.
The MD5 ETag and the content type ride along as extended attributes where the file system has them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from kiln.objectstore.errors import InvalidName, NoSuchBucket, NoSuchKey, ObjectStoreError
from kiln.objectstore.names import check_bucket, check_key
from kiln.objectstore.port import ObjectInfo, check_range

CHUNK = 1 << 20
TMP_DIR = ".tmp"
_ETAG_ATTR = "user.kiln.etag"
_CONTENT_TYPE_ATTR = "user.kiln.content-type"
DEFAULT_CONTENT_TYPE = "binary/octet-stream"


def key_segments(key: str) -> list[str]:
    """The path segments of key, or InvalidName if any of them could step outside the bucket."""
    check_key(key)
    if key.startswith("/"):
        raise InvalidName(f"object key {key!r} is absolute; the local store needs relative keys")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidName(
                f"object key {key!r} has an empty, '.' or '..' segment, "
                "which the local store cannot map to a file inside its bucket"
            )
    return segments


class LocalDirectoryStore:
    """An ObjectStore in a directory tree: <root>/<bucket>/<key>."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalDirectoryStore({str(self.root)!r})"

    # buckets

    def bucket_exists(self, bucket: str) -> bool:
        folder = self.root / check_bucket(bucket)
        return folder.is_dir() and not folder.is_symlink()

    def create_bucket(self, bucket: str) -> None:
        folder = self.root / check_bucket(bucket)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error(exc, f"cannot create bucket folder {folder}") from exc
        if folder.is_symlink():
            raise ObjectStoreError(f"bucket folder {folder} is a symlink", code="InvalidBucket")

    def _bucket(self, bucket: str) -> Path:
        if not self.bucket_exists(bucket):
            raise NoSuchBucket(bucket)
        return (self.root / bucket).resolve()

    def _path(self, bucket: str, key: str) -> Path:
        """The file for bucket/key, checked to lie literally inside the bucket folder."""
        segments = key_segments(key)
        folder = self._bucket(bucket)
        path = folder.joinpath(*segments)
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as exc:
            raise InvalidName(f"object key {key!r} cannot be resolved: {exc}") from exc
        if resolved != path:
            raise InvalidName(f"object key {key!r} passes through a symlink in bucket {bucket!r}")
        return path

    # objects

    def put_object(
        self, bucket: str, key: str, body: bytes | BinaryIO, *, content_type: str | None = None
    ) -> None:
        path, staging = self._target(bucket, key)
        fd, temp_name = tempfile.mkstemp(dir=staging, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                digest = _copy(body, handle)
                handle.flush()
                os.fsync(handle.fileno())
                _set_attr(handle.fileno(), _ETAG_ATTR, f'"{digest}"')
                if content_type:
                    _set_attr(handle.fileno(), _CONTENT_TYPE_ATTR, content_type)
            os.replace(temp_name, path)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            if isinstance(exc, OSError):
                raise _error(exc, f"cannot store s3://{bucket}/{key}") from exc
            raise

    def _target(self, bucket: str, key: str) -> tuple[Path, Path]:
        """Where an object is stored (its folder made) and the staging folder to write it in
        first; a key whose folder passes through a symlink is refused."""
        path = self._path(bucket, key)
        staging = self.root / TMP_DIR
        try:
            staging.mkdir(exist_ok=True)
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error(exc, f"cannot store s3://{bucket}/{key}") from exc
        if path.parent.resolve() != path.parent:
            raise InvalidName(f"object key {key!r} passes through a symlink in bucket {bucket!r}")
        return path, staging

    def get_object(self, bucket: str, key: str) -> BinaryIO:
        path = self._path(bucket, key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NoSuchKey(bucket, key) from exc
        except OSError as exc:
            raise _error(exc, f"cannot read s3://{bucket}/{key}") from exc

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        check_range(start, length)
        path = self._path(bucket, key)
        try:
            with path.open("rb") as body:
                body.seek(start)
                return body.read(length)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NoSuchKey(bucket, key) from exc
        except OSError as exc:
            raise _error(exc, f"cannot read s3://{bucket}/{key}") from exc

    def copy_object(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        """A hard link where it can (objects are only ever replaced by a rename, never written
        in place, so the two names stay independent), else a streamed copy."""
        source = self._path(source_bucket, source_key)
        self._path(bucket, key)  # a bad target key is refused before the source is looked for
        if not source.is_file():
            raise NoSuchKey(source_bucket, source_key)
        target, staging = self._target(bucket, key)
        try:
            linked = staging / f"copy-{os.urandom(8).hex()}"
            os.link(source, linked)
        except OSError:  # another file system under the root, or no hard links here
            content_type = _get_attr(source, _CONTENT_TYPE_ATTR)
            with self.get_object(source_bucket, source_key) as body:
                self.put_object(bucket, key, body, content_type=content_type)
            return
        try:
            os.replace(linked, target)
        except OSError as exc:
            linked.unlink(missing_ok=True)
            raise _error(exc, f"cannot store s3://{bucket}/{key}") from exc

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        path = self._path(bucket, key)
        if not path.is_file():
            raise NoSuchKey(bucket, key)
        try:
            info = _info(key, path)
        except FileNotFoundError as exc:
            raise NoSuchKey(bucket, key) from exc
        except OSError as exc:
            raise _error(exc, f"cannot read s3://{bucket}/{key}") from exc
        stored = _get_attr(path, _CONTENT_TYPE_ATTR)
        guessed = mimetypes.guess_type(key, strict=False)[0]
        return ObjectInfo(
            key=key,
            size=info.size,
            etag=info.etag,
            last_modified=info.last_modified,
            content_type=stored or guessed or DEFAULT_CONTENT_TYPE,
        )

    def iter_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = self._bucket(bucket)
        return _walk(folder, "", prefix)

    def list_objects(self, bucket: str, prefix: str = "") -> list[str]:
        return [info.key for info in self.iter_objects(bucket, prefix)]

    def delete_object(self, bucket: str, key: str) -> None:
        path = self._path(bucket, key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            raise _error(exc, f"cannot delete s3://{bucket}/{key}") from exc
        folder = (self.root / bucket).resolve()
        parent = path.parent
        # S3 has no folders: drop the ones only this key kept
        while parent != folder and parent.is_relative_to(folder):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _walk(folder: Path, base: str, prefix: str) -> Iterator[ObjectInfo]:
    """Objects below folder in S3 key order: a folder sorts as its name plus '/'."""
    try:
        with os.scandir(folder) as scan:
            entries = [(e.name + "/" if _is_dir(e) else e.name, e) for e in scan]
    except FileNotFoundError:
        return
    for name, entry in sorted(entries, key=lambda item: item[0]):
        key = base + name
        if entry.is_symlink():
            continue
        if name.endswith("/"):
            if key.startswith(prefix) or prefix.startswith(key):
                yield from _walk(Path(entry.path), key, prefix)
        elif key.startswith(prefix) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                yield _info(key, Path(entry.path))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    return entry.is_dir(follow_symlinks=False)


def _info(key: str, path: Path) -> ObjectInfo:
    stat = path.stat()
    etag = _get_attr(path, _ETAG_ATTR) or f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        etag=etag,
        last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
    )


def _copy(body: bytes | BinaryIO, handle: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(body, bytes | bytearray | memoryview):
        digest.update(body)
        handle.write(body)
        return digest.hexdigest()
    while chunk := body.read(CHUNK):
        digest.update(chunk)
        handle.write(chunk)
    return digest.hexdigest()


def _set_attr(fd: int, name: str, value: str) -> None:
    with contextlib.suppress(OSError):  # the file system has no user xattrs: fall back
        os.setxattr(fd, name, value.encode("utf-8"))


def _get_attr(path: Path, name: str) -> str | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _error(exc: OSError, message: str) -> ObjectStoreError:
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidName(f"{message}: a key segment is longer than the file system allows")
    if isinstance(exc, FileExistsError | NotADirectoryError | IsADirectoryError):
        return ObjectStoreError(
            f"{message}: the key collides with another object's folder in the local store "
            "(key 'a' and key 'a/b' cannot both exist here)",
            code="KeyConflict",
        )
    return ObjectStoreError(f"{message}: {exc.strerror or exc}", code="InternalError")
