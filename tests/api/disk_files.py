"""Small disk files made by qemu-img for the import tests, put into Kiln's object store."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from kiln import process

MIB = 1024 * 1024
MARK = b"kiln-import-marker\n"
BUCKET = "vm-imports"


def require_qemu_img() -> None:
    if shutil.which("qemu-img") is None:
        reason = "qemu-img is not installed (scripts/debian-packages.txt)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def disk_file(folder: Path, driver: str = "raw", *options: str) -> Path:
    """A 4 MiB disk with MARK at 1 MiB, in qemu's `driver` format."""
    raw = folder / "marked.raw"
    with raw.open("wb") as handle:
        handle.truncate(4 * MIB)
        handle.seek(MIB)
        handle.write(MARK)
    if driver == "raw":
        return raw
    out = folder / f"marked.{driver}"
    process.run(["qemu-img", "convert", "-f", "raw", "-O", driver, *options, str(raw), str(out)])
    return out


def backed_qcow2(folder: Path, backing: Path) -> Path:
    out = folder / "backed.qcow2"
    argv = ["qemu-img", "create", "-f", "qcow2", "-b", str(backing), "-F", "raw", str(out)]
    process.run(argv)
    return out


def upload(kiln, path: Path, key: str, bucket: str = BUCKET) -> str:
    store = kiln.objects.for_bucket(bucket)
    store.create_bucket(bucket)
    store.put_object(bucket, key, path.read_bytes())
    return f"s3://{bucket}/{key}"


def marker_of(qcow2: Path, scratch: Path) -> bytes:
    raw = scratch / "readback.raw"
    process.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow2), str(raw)])
    with raw.open("rb") as handle:
        handle.seek(MIB)
        return handle.read(len(MARK))


def wait_for(check, *, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
