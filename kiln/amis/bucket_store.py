"""BucketStore: a region's AMI disks as objects in an S3-compatible bucket.

The disk `<region>/<ami>.qcow2` is the object `<prefix>/<region>/<ami>.qcow2` of the bucket,
served by whichever ObjectStore Kiln's resolver gives that bucket (a local folder bucket or an
S3 server). Booting or exporting needs a local file, so `path` fetches the object once into a
cache folder (`<cache>/<key>`): the download goes to a temp file beside the entry and is renamed
into place, under a lock file, so concurrent callers wait for one download and never see half a
file. A cache entry whose size is not the object's (stale, from an earlier object) is fetched
again. `add` uploads and keeps the finished file as the cache entry; `copy_from` uploads (and
hard-links the source into the cache when it can); `copy_object_from` copies from another
bucket store on the same server without a download; `remove` deletes object and cache entry.

Disks are immutable, so a header read once (`read_head`, a ranged GET) is remembered.

The cache of a bucket is bounded (`cache_limit` bytes): after a fetch or an upload, the entries
used least recently (`path` marks an entry used) are removed until the cache fits, never the
entry just made. A VM booted over an evicted entry keeps reading it (the file stays open); the
next use fetches it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from kiln.amis.disks import ImageStoreError, check_disk
from kiln.objectstore import BucketPrefix, NoSuchKey, ObjectStore, ObjectStoreError

logger = logging.getLogger(__name__)

COPY_CHUNK = 1 << 20
HEAD_MEMO = 64
"""Header bytes remembered per disk (the qcow2 header fields Kiln reads fit in 32)."""


class BucketStore:
    """Disks as objects: `s3://<bucket>/<prefix>/<region>/<ami>.qcow2`, cached under `cache`."""

    def __init__(
        self,
        objects: ObjectStore,
        bucket: str,
        prefix: str,
        cache: Path,
        *,
        cache_limit: int | None = None,
    ) -> None:
        self.objects = objects
        self.place = BucketPrefix(bucket, prefix.strip("/"))
        self.cache = cache
        self.cache_limit = cache_limit
        """Bytes of fetched disks kept under `cache`; None: no bound."""
        self._heads: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BucketStore({self.location!r}, cache={str(self.cache)!r})"

    @property
    def location(self) -> str:
        return self.place.uri

    def key(self, disk: str) -> str:
        region, name = check_disk(disk)
        return self.place.key(f"{region}/{name}")

    def uri(self, disk: str) -> str:
        return f"s3://{self.place.bucket}/{self.key(disk)}"

    def cached(self, disk: str) -> Path:
        """Where the local copy of `disk` is kept (it may not be there yet)."""
        return self.cache.joinpath(*self.key(disk).split("/"))

    # reading

    def size(self, disk: str) -> int:
        try:
            return self.objects.head_object(self.place.bucket, self.key(disk)).size
        except NoSuchKey:
            return 0
        except ObjectStoreError as exc:
            raise self._error(disk, "cannot be looked up", exc) from exc

    def read_head(self, disk: str, length: int) -> bytes:
        with self._lock:
            known = self._heads.get(disk)
        if known is not None and length <= HEAD_MEMO:
            return known[:length]
        try:
            head = self.objects.read_range(
                self.place.bucket, self.key(disk), 0, max(length, HEAD_MEMO)
            )
        except ObjectStoreError as exc:
            raise self._error(disk, "cannot be read", exc) from exc
        with self._lock:
            self._heads[disk] = head[:HEAD_MEMO]
        return head[:length]

    def path(self, disk: str) -> Path:
        target = self.cached(disk)
        wanted = self._stored_size(disk)
        if _size(target) == wanted:
            _mark_used(target)
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with _locked(target):
                if _size(target) != wanted:  # another caller may have fetched it meanwhile
                    self._fetch(disk, target)
        except OSError as exc:
            raise self._error(disk, f"could not be cached in {target.parent}", exc) from exc
        self.evict(keep=target)
        return target

    def _stored_size(self, disk: str) -> int:
        try:
            return self.objects.head_object(self.place.bucket, self.key(disk)).size
        except NoSuchKey as exc:
            raise self._error(disk, "does not exist", exc) from exc
        except ObjectStoreError as exc:
            raise self._error(disk, "cannot be looked up", exc) from exc

    def _fetch(self, disk: str, target: Path) -> None:
        """Download into a temp file beside target, then rename it (OSError: the caller's)."""
        logger.info("fetching %s into %s", self.uri(disk), target)
        with _partial(target) as partial:
            try:
                with (
                    self.objects.get_object(self.place.bucket, self.key(disk)) as body,
                    partial.open("wb") as out,
                ):
                    shutil.copyfileobj(body, out, COPY_CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
            except ObjectStoreError as exc:
                raise self._error(disk, "could not be fetched", exc) from exc
            os.replace(partial, target)

    # writing

    def add(self, disk: str, source: Path) -> None:
        self._upload(source, disk)
        target = self.cached(disk)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with _locked(target):
                os.replace(source, target)
        except OSError:  # another filesystem: the object is stored, the file is not needed
            source.unlink(missing_ok=True)
        self.evict(keep=target)

    def copy_from(self, source: Path, disk: str) -> None:
        self._upload(source, disk)
        target = self.cached(disk)
        with contextlib.suppress(OSError):  # a cache entry for free when on one filesystem
            target.parent.mkdir(parents=True, exist_ok=True)
            with _locked(target), _partial(target) as partial:
                os.link(source, partial)
                os.replace(partial, target)
        self.evict(keep=target)

    def copy_object_from(self, source: BucketStore, disk: str, name: str) -> None:
        """Store `disk` of `source` as `name` by a server-side copy (`source` must use the same
        object store, e.g. another region's prefix of this bucket)."""
        if source.objects is not self.objects:
            raise ImageStoreError(f"{source.location} and {self.location} are on different servers")
        try:
            self.objects.copy_object(
                source.place.bucket, source.key(disk), self.place.bucket, self.key(name)
            )
        except ObjectStoreError as exc:
            raise self._error(name, f"could not be copied from {source.uri(disk)}", exc) from exc
        with self._lock:
            self._heads.pop(name, None)

    def _upload(self, source: Path, disk: str) -> None:
        key = self.key(disk)
        try:
            with source.open("rb") as body:
                self.objects.put_object(
                    self.place.bucket, key, body, content_type="application/x-qemu-disk"
                )
        except ObjectStoreError as exc:
            raise self._error(disk, "could not be uploaded", exc) from exc
        except OSError as exc:
            raise self._error(disk, f"could not be uploaded from {source}", exc) from exc
        with self._lock:
            self._heads.pop(disk, None)

    def remove(self, disk: str) -> None:
        try:
            self.objects.delete_object(self.place.bucket, self.key(disk))
        except ObjectStoreError as exc:
            raise self._error(disk, "could not be deleted", exc) from exc
        with self._lock:
            self._heads.pop(disk, None)
        target = self.cached(disk)
        with contextlib.suppress(OSError):
            with _locked(target):
                target.unlink(missing_ok=True)
            target.with_name(f".{target.name}.lock").unlink(missing_ok=True)

    def evict(self, *, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used cache entries until the cache fits its limit."""
        if self.cache_limit is None:
            return []
        entries = []
        for path in self.cache.rglob("*.qcow2"):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, path in sorted(entries):
            if total <= self.cache_limit:
                break
            if path == keep:
                continue
            with contextlib.suppress(OSError), _locked(path):
                path.unlink()
                total -= size
                removed.append(path)
        if removed:
            logger.info("evicted %d cached disks from %s", len(removed), self.cache)
        return removed

    def _error(self, disk: str, what: str, exc: Exception) -> ImageStoreError:
        return ImageStoreError(f"the disk {self.uri(disk)} {what}: {exc}")


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _mark_used(path: Path) -> None:
    """The cache's recency: an entry's modification time is its last use."""
    with contextlib.suppress(OSError):
        os.utime(path)


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive lock on `.<name>.lock` beside target, for threads and processes alike."""
    lock = target.with_name(f".{target.name}.lock")
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _partial(target: Path) -> Iterator[Path]:
    """A fresh temp name beside target, removed unless the caller renamed it into place."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    partial = Path(name)
    partial.unlink()
    try:
        yield partial
    finally:
        partial.unlink(missing_ok=True)
