"""Disk imports behind EC2 ImportImage and Image Builder ImportDiskImage: an object of the object
store becomes an AMI (a row in the registry, a compressed qcow2 in the image store).

An import runs on a daemon thread started once the request that asked for it has committed
(`start_after_commit`): converting a disk takes seconds to minutes, longer than a request should
hold the database. The thread reports its stages through a callback the service gives (each
stage is written to the task's row in its own transaction) and registers the AMI in the same
transaction as the final state.

The object is streamed into a private folder under `<data_dir>/imports/`; only Kiln's own paths
reach qemu-img, and the disk goes through kiln.amis.formats' checks before it is converted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from kiln.amis.formats import DiskFormat, DiskInfo, import_disk
from kiln.amis.stores import ImageStores
from kiln.core.errors import KilnError
from kiln.objectstore import ObjectStoreError, Resolver

logger = logging.getLogger(__name__)

COPY_CHUNK = 1024 * 1024
Transactions = Callable[[], contextlib.AbstractContextManager[Session]]
Stage = Callable[[str, int], None]
"""(status message, percent done) as the import moves on."""


class ImportFailedError(KilnError):
    """The object could not be read or is not a disk Kiln takes; the message is for the user."""


@dataclass(frozen=True)
class DiskSource:
    bucket: str
    key: str
    declared: DiskFormat | None


def transactions_of(session: Session) -> Transactions:
    """Transactions on the database of a request's session, for work after the request."""
    bind = session.get_bind()
    engine: Engine = bind if isinstance(bind, Engine) else bind.engine
    factory = sessionmaker(engine, expire_on_commit=False)

    @contextlib.contextmanager
    def transaction() -> Iterator[Session]:
        with factory() as new, new.begin():
            yield new

    return transaction


def start_after_commit(session: Session, name: str, work: Callable[[], None]) -> None:
    """Run `work` on a daemon thread once `session`'s transaction commits (never if it rolls
    back)."""

    def start(_session: Session) -> None:
        threading.Thread(target=_logged(work, name), name=name, daemon=True).start()

    event.listen(session, "after_commit", start, once=True)


def _logged(work: Callable[[], None], name: str) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except Exception:  # a thread has nobody to raise to
            logger.exception("import %s failed unexpectedly", name)

    return run


def fetch_and_convert(
    objects: Resolver,
    source: DiskSource,
    *,
    store: ImageStores,
    disk: str,
    work_root: Path,
    stage: Stage,
) -> DiskInfo:
    """Copy the object into a private folder, check it, and write the AMI disk `disk`."""
    work_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = store.path(disk)
    with tempfile.TemporaryDirectory(dir=work_root, prefix="import-") as folder:
        work = Path(folder)
        local = work / "source"
        stage("downloading", 10)
        try:
            with objects.get_object(source.bucket, source.key) as body, local.open("wb") as out:
                shutil.copyfileobj(body, out, COPY_CHUNK)
        except ObjectStoreError as exc:
            raise ImportFailedError(f"s3://{source.bucket}/{source.key}: {exc}") from exc
        stage("converting", 40)
        info = import_disk(local, target, declared=source.declared, work=work / "unpacked")
    stage("preparing ami", 90)
    return info


def write_manifest(store: ImageStores, disk: str, manifest: dict[str, Any]) -> None:
    """The `<ami>.json` beside the disk that the VM build host reads for parents."""
    path = store.path(disk).with_suffix(".json")
    body = {**manifest, "size": store.size(disk)}
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(partial, path)


def discard(store: ImageStores, disk: str) -> None:
    """Remove a disk an import wrote but did not register."""
    with contextlib.suppress(KilnError, OSError):
        store.remove(disk)
