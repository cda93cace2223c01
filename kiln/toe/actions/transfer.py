"""WebDownload, S3Download and S3Upload: bytes move through host temp files and the
Communicator's upload/download, streamed (never held whole in memory)."""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.toe.actions.context import ActionContext, bool_input, text_input
from kiln.toe.objectstore import ObjectStore

DOWNLOAD_ATTEMPTS = 5
BACKOFF_SECONDS = 0.2
S3_PREFIX_LIMIT = 1000
_ALGORITHMS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_SUMS = {"MD5": "md5sum", "SHA1": "sha1sum", "SHA256": "sha256sum", "SHA512": "sha512sum"}


def _digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(_ALGORITHMS[algorithm])
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def remote_digest(ctx: ActionContext, path: str, algorithm: str) -> str | None:
    """The hex digest of an instance file (via md5sum/sha*sum), or None if unreadable."""
    ran = ctx.run([_SUMS[algorithm], "--", path], check=False, quiet=True)
    if ran.exit_code != 0 or not ran.output:
        return None
    return ran.output.split()[0].lstrip("\\").lower()


def web_download(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    source, destination = text_input(item, "source"), text_input(item, "destination")
    if urllib.parse.urlsplit(source).scheme not in ("http", "https"):
        ctx.fail(f"source must be an http or https URL, got {source!r}")
    if destination.endswith("/"):
        name = posixpath.basename(urllib.parse.urlsplit(source).path) or "index.html"
        destination = posixpath.join(destination, urllib.parse.unquote(name))
    checksum = text_input(item, "checksum").strip().lower()
    algorithm = text_input(item, "algorithm").upper()
    if checksum and algorithm not in _ALGORITHMS:
        ctx.fail(f"unsupported algorithm {algorithm!r}")
    if ctx.test("e", destination):
        if not bool_input(item, "overwrite", default=True):
            ctx.fail(f"'{destination}' already exists and 'overwrite' is false")
        if checksum and remote_digest(ctx, destination, algorithm) == checksum:
            ctx.log(f"{destination} already matches the checksum; not downloading")
            return {"destination": destination}
    insecure = bool_input(item, "ignoreCertificateErrors", default=False)
    with ctx.host_file() as local:
        _fetch(ctx, source, local, insecure=insecure)
        if checksum and _digest(local, algorithm) != checksum:
            ctx.fail(f"{algorithm} checksum of {source} does not match {checksum}")
        ctx.run(["mkdir", "-p", "--", posixpath.dirname(destination) or "/"])
        ctx.upload(local, destination)
    return {"destination": destination}


def _fetch(ctx: ActionContext, url: str, local: Path, *, insecure: bool) -> None:
    context = ssl._create_unverified_context() if insecure else None
    error = ""
    for attempt in range(DOWNLOAD_ATTEMPTS):
        if attempt:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        try:
            timeout = ctx.remaining()
            request = urllib.request.Request(url, headers={"User-Agent": "kiln-toe"})
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                if response.status != 200:
                    ctx.fail(f"{url} answered HTTP {response.status}")
                with local.open("wb") as handle:
                    shutil.copyfileobj(response, handle, 1 << 20)
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                ctx.fail(f"{url} answered HTTP {exc.code}")
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
    ctx.fail(f"cannot download {url} after {DOWNLOAD_ATTEMPTS} attempts: {error}")


def _store(ctx: ActionContext) -> ObjectStore:
    if ctx.object_store is None:
        ctx.fail("no object store is configured for this run")
    return ctx.object_store


def _s3(ctx: ActionContext, url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        ctx.fail(f"{url!r} is not an s3://bucket/key URL")
    return parts.netloc, parts.path.lstrip("/")


def s3_download(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    store = _store(ctx)
    bucket, key = _s3(ctx, text_input(item, "source"))
    destination = text_input(item, "destination")
    overwrite = bool_input(item, "overwrite", default=True)
    if key.endswith("*"):
        prefix = key[:-1]
        if not ctx.test("d", destination):
            ctx.fail(f"destination folder '{destination}' does not exist")
        keys = [k for k in store.list_objects(bucket, prefix) if not k.endswith("/")]
        if len(keys) > S3_PREFIX_LIMIT:
            ctx.fail(f"more than {S3_PREFIX_LIMIT} objects under s3://{bucket}/{prefix}")
        for name in keys:
            target = posixpath.join(destination, name[len(prefix) :])
            ctx.run(["mkdir", "-p", "--", posixpath.dirname(target)])
            _get(ctx, store, bucket, name, target, overwrite=overwrite)
        return {}
    if destination.endswith("/"):
        destination = posixpath.join(destination, posixpath.basename(key))
    folder = posixpath.dirname(destination) or "/"
    if not ctx.test("d", folder):
        ctx.fail(f"destination folder '{folder}' does not exist")
    _get(ctx, store, bucket, key, destination, overwrite=overwrite)
    return {}


def _get(
    ctx: ActionContext, store: ObjectStore, bucket: str, key: str, target: str, *, overwrite: bool
) -> None:
    if not overwrite and ctx.test("e", target):
        raise_message = (
            'File already exists and "overwrite" property for "destination" file '
            "is set to false. Cannot download."
        )
        ctx.fail(raise_message)
    with ctx.host_file() as local:
        try:
            with store.get_object(bucket, key) as body, local.open("wb") as handle:
                shutil.copyfileobj(body, handle, 1 << 20)
        except Exception as exc:  # the store is a port: report whatever it raised
            ctx.fail(f"cannot get s3://{bucket}/{key}: {exc}")
        ctx.upload(local, target)


def s3_upload(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    store = _store(ctx)
    source = text_input(item, "source")
    bucket, key = _s3(ctx, text_input(item, "destination"))
    recurse = bool_input(item, "recurse", default=False)
    folder = source[:-1].rstrip("/") if source.endswith("*") else source
    if source.endswith("*") or ctx.test("d", source):
        if not source.endswith("*") and not recurse:
            ctx.fail(f"'{source}' is a folder; set recurse: true to upload it")
        if not ctx.test("d", folder or "/"):
            ctx.fail(f"folder '{folder}' does not exist")
        argv = ["find", folder or "/", "-mindepth", "1"]
        if not recurse:
            argv += ["-maxdepth", "1"]
        found = ctx.run([*argv, "-type", "f", "-print0"], quiet=True).output
        prefix = key if not key or key.endswith("/") else key + "/"
        for path in sorted(p for p in found.split("\0") if p):
            _put(ctx, store, path, bucket, prefix + posixpath.relpath(path, folder or "/"))
        return {}
    if not ctx.test("f", source):
        ctx.fail(f"file '{source}' does not exist")
    if not key or key.endswith("/"):
        key += posixpath.basename(source)
    _put(ctx, store, source, bucket, key)
    return {}


def _put(ctx: ActionContext, store: ObjectStore, path: str, bucket: str, key: str) -> None:
    with ctx.host_file() as local:
        ctx.download(path, local)
        try:
            with local.open("rb") as body:
                store.put_object(bucket, key, body)
        except Exception as exc:  # the store is a port: report whatever it raised
            ctx.fail(f"cannot put s3://{bucket}/{key}: {exc}")


MODULES = {"WebDownload": web_download, "S3Download": s3_download, "S3Upload": s3_upload}
