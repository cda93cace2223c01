"""Disk imports behind EC2 ImportImage and Image Builder ImportDiskImage: an object of the object
store becomes an AMI (a row in the registry, a compressed qcow2 in the image store).

One `ImportJob` serves both services; what differs is how the import shows on the service's
row (an EC2 import task, an Image Builder image), given as `StatusMoves`. The job runs on a
daemon thread started once the request that asked for it has committed (`start_after_commit`):
converting a disk takes seconds to minutes, longer than a request should hold the database.
Each stage is written to the row in its own transaction; the AMI is registered in the same
transaction as the row's final state.

The object is streamed into a private folder under `<data_dir>/imports/`; only Kiln's own paths
reach qemu-img, and the disk goes through kiln.amis.formats' checks before it is converted, into
a work file of that folder. The finished file is then added to the import region's image store
(`ImageStores.add`: a directory store moves it in, a bucket store uploads it); the job never
writes into a store's files itself. What is worth keeping about the import goes into the AMI
row's manifest (kiln.amis.registry); there are no files beside the disk.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from kiln.amis.formats import DiskFormat, DiskFormatError, DiskInfo, import_disk
from kiln.amis.stores import ImageStores
from kiln.core.errors import KilnError
from kiln.core.ids import ami_id as new_ami_id
from kiln.engine.owners import is_dead, new_owner
from kiln.objectstore import ObjectStoreError, Resolver

logger = logging.getLogger(__name__)
IMPORTS_FOLDER = "imports"
"""Where imports work, under the data directory."""
WORK_PREFIX = "import-"
OWNER_FILE = "owner"
OWNERLESS_GRACE = 60.0

COPY_CHUNK = 1024 * 1024
Transactions = Callable[[], contextlib.AbstractContextManager[Session]]


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


@dataclass(frozen=True)
class Imported:
    """A converted disk, already in its region's image store, not yet registered."""

    ami_id: str
    disk: str
    size: int
    info: DiskInfo


@dataclass(frozen=True)
class Failure:
    """Why an import ended without an AMI. `refused`: the object or the disk was not one Kiln
    takes (the user's to fix); otherwise Kiln failed."""

    error: Exception
    refused: bool


class StatusMoves(Protocol):
    """How an import shows on its service's row; each call runs in its own transaction."""

    def stage(self, session: Session, message: str, percent: int) -> None:
        """As the import moves on: "downloading", "converting", "preparing ami"."""
        ...

    def complete(self, session: Session, imported: Imported) -> bool:
        """Register the AMI and end the row; False when the row no longer wants it (cancelled,
        deleted): the disk is then removed again."""
        ...

    def fail(self, session: Session, failure: Failure) -> None:
        """End the row with the reason."""
        ...


REFUSED = (ImportFailedError, DiskFormatError)


@dataclass(frozen=True)
class ImportJob:
    """One import: fetch the object, check and convert it in a private work folder, add the
    disk to the region's image store, then register it through `moves.complete`.

    `run` never raises: every failure ends the row through `moves.fail`, and a disk that was
    added but not registered is removed. Start it with `start_after_commit`.
    """

    transactions: Transactions
    objects: Resolver
    stores: ImageStores
    work_root: Path
    region: str
    source: DiskSource
    moves: StatusMoves

    def run(self) -> None:
        ami = new_ami_id()
        disk = self.stores.relative(self.region, ami)
        try:
            imported = self._convert(ami, disk)
            with self.transactions() as session:
                registered = self.moves.complete(session, imported)
        except REFUSED as exc:
            discard(self.stores, disk)
            self._fail(Failure(exc, refused=True))
            return
        except Exception as exc:
            discard(self.stores, disk)
            logger.exception("import of s3://%s/%s failed", self.source.bucket, self.source.key)
            self._fail(Failure(exc, refused=False))
            return
        if not registered:
            discard(self.stores, disk)

    def _convert(self, ami: str, disk: str) -> Imported:
        self.work_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=self.work_root, prefix=WORK_PREFIX) as folder:
            work = Path(folder)
            (work / OWNER_FILE).write_text(new_owner())
            local = work / "source"
            self._stage("downloading", 10)
            try:
                with (
                    self.objects.get_object(self.source.bucket, self.source.key) as body,
                    local.open("wb") as out,
                ):
                    shutil.copyfileobj(body, out, COPY_CHUNK)
            except ObjectStoreError as exc:
                raise ImportFailedError(
                    f"s3://{self.source.bucket}/{self.source.key}: {exc}"
                ) from exc
            self._stage("converting", 40)
            converted = work / f"{ami}.qcow2"
            info = import_disk(
                local, converted, declared=self.source.declared, work=work / "unpacked"
            )
            local.unlink()
            self._stage("preparing ami", 90)
            size = converted.stat().st_size
            self.stores.add(disk, converted)
        return Imported(ami, disk, size, info)

    def _stage(self, message: str, percent: int) -> None:
        with self.transactions() as session:
            self.moves.stage(session, message, percent)

    def _fail(self, failure: Failure) -> None:
        try:
            with self.transactions() as session:
                self.moves.fail(session, failure)
        except Exception:  # the thread has nobody to raise to
            logger.exception("the failed import of s3://%s/%s could not be recorded",
                             self.source.bucket, self.source.key)  # fmt: skip


def remove_abandoned_work(work_root: Path) -> list[Path]:
    """Remove the work folders of imports whose Kiln process died (a restarted Kiln calls
    this; a folder without an owner is left alone for a minute, its import may be starting)."""
    removed = []
    for folder in sorted(work_root.glob(f"{WORK_PREFIX}*")):
        try:
            owner: str | None = (folder / OWNER_FILE).read_text().strip()
        except FileNotFoundError:
            owner = None
        except OSError:
            continue
        try:
            young = time.time() - folder.stat().st_mtime < OWNERLESS_GRACE
        except OSError:
            continue
        if (owner is None and young) or (owner is not None and not is_dead(owner)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def discard(store: ImageStores, disk: str) -> None:
    """Remove a disk an import added but did not register."""
    with contextlib.suppress(KilnError, OSError):
        store.remove(disk)
