"""The import job both services share: fetch, check and convert in a private work folder, add the
finished disk to the region's store, then register it through the service's status moves (or
end the row through them, removing whatever disk it added)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kiln import process
from kiln.amis.disks import DirectoryStore
from kiln.amis.formats import DiskFormat, UnsafeDiskError
from kiln.amis.importer import (
    OWNER_FILE,
    WORK_PREFIX,
    DiskSource,
    Failure,
    Imported,
    ImportFailedError,
    ImportJob,
    remove_abandoned_work,
)
from kiln.amis.stores import ImageStores
from kiln.engine.owners import new_owner
from kiln.objectstore import ObjectStoreConfig, Resolver
from tests.api.disk_files import MARK, MIB, disk_file

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is missing")

BUCKET = "disks"


class UploadOnlyStore(DirectoryStore):
    """A store that, like a bucket store, is only ever given finished files: reading a disk's
    local path (a download cache in a bucket store) is refused, adds and removes are recorded."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.added: list[str] = []
        self.removed: list[str] = []
        self.fail_add = False

    def path(self, disk: str) -> Path:
        raise AssertionError(f"the importer must not use the store's file of {disk}")

    def size(self, disk: str) -> int:
        return DirectoryStore.path(self, disk).stat().st_size

    def add(self, disk: str, source: Path) -> None:
        if self.fail_add:
            raise OSError("the bucket refused the upload")
        self.added.append(disk)
        target = DirectoryStore.path(self, disk)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)

    def remove(self, disk: str) -> None:
        self.removed.append(disk)
        DirectoryStore.path(self, disk).unlink(missing_ok=True)


@dataclass
class Moves:
    """The service side, recorded; `complete` registers unless told the row is gone."""

    wanted: bool = True
    raises: Exception | None = None
    stages: list[str] = field(default_factory=list)
    completed: list[Imported] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def stage(self, _session: Any, message: str, _percent: int) -> None:
        self.stages.append(message)

    def complete(self, _session: Any, imported: Imported) -> bool:
        if self.raises is not None:
            raise self.raises
        self.completed.append(imported)
        return self.wanted

    def fail(self, _session: Any, failure: Failure) -> None:
        self.failures.append(failure)


@contextlib.contextmanager
def no_database() -> Iterator[Any]:
    yield object()  # the moves above need no session


@dataclass
class World:
    objects: Resolver
    store: UploadOnlyStore
    work: Path
    scratch: Path

    def job(self, key: str, moves: Moves, declared: DiskFormat | None = None) -> ImportJob:
        return ImportJob(
            transactions=no_database,
            objects=self.objects,
            stores=ImageStores(DirectoryStore(self.scratch / "default"), {"eu-west-1": self.store}),
            work_root=self.work,
            region="eu-west-1",
            source=DiskSource(BUCKET, key, declared),
            moves=moves,
        )

    def upload(self, key: str, path: Path) -> None:
        store = self.objects.for_bucket(BUCKET)
        store.put_object(BUCKET, key, path.read_bytes())

    def work_files(self) -> list[Path]:
        return [p for p in self.work.rglob("*") if p.is_file()]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    config = ObjectStoreConfig.from_environ({}, data_dir=tmp_path / "data", region="eu-west-1")
    objects = Resolver(config)
    objects.for_bucket(BUCKET).create_bucket(BUCKET)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    try:
        yield World(objects, UploadOnlyStore(tmp_path / "eu"), tmp_path / "imports", scratch)
    finally:
        objects.close()


def test_a_disk_is_converted_in_the_work_folder_and_added_to_the_regions_store(
    world: World,
) -> None:
    world.upload("web.vmdk", disk_file(world.scratch, "vmdk"))
    moves = Moves()
    world.job("web.vmdk", moves).run()
    assert moves.failures == []
    assert moves.stages == ["downloading", "converting", "preparing ami"]
    (imported,) = moves.completed
    assert imported.disk == f"eu-west-1/{imported.ami_id}.qcow2"
    assert world.store.added == [imported.disk] and world.store.removed == []
    assert imported.size == world.store.size(imported.disk) > 0
    assert (imported.info.format, imported.info.virtual_size) == (DiskFormat.VMDK, 4 * MIB)
    readback = world.scratch / "readback.raw"
    stored = DirectoryStore.path(world.store, imported.disk)
    process.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(stored), str(readback)])
    assert readback.read_bytes()[MIB : MIB + len(MARK)] == MARK
    assert world.work_files() == []  # the source and the work file are gone
    assert not list((world.scratch / "default").rglob("*.qcow2"))  # not another region's store


def test_a_row_that_no_longer_wants_the_disk_gets_it_removed(world: World) -> None:
    world.upload("a.raw", disk_file(world.scratch))
    moves = Moves(wanted=False)
    world.job("a.raw", moves).run()
    (imported,) = moves.completed
    assert world.store.removed == [imported.disk]
    assert not DirectoryStore.path(world.store, imported.disk).exists()
    assert moves.failures == []


def test_a_missing_object_is_refused_and_nothing_is_stored(world: World) -> None:
    moves = Moves()
    world.job("missing.raw", moves).run()
    (failure,) = moves.failures
    assert failure.refused and isinstance(failure.error, ImportFailedError)
    assert f"s3://{BUCKET}/missing.raw" in str(failure.error)
    assert moves.stages == ["downloading"] and moves.completed == []
    assert world.store.added == []
    assert world.work_files() == []


def test_a_disk_naming_a_host_file_is_refused_before_conversion(world: World) -> None:
    secret = world.scratch / "secret"
    secret.write_bytes(b"secret\n" * 512)
    backed = world.scratch / "backed.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(secret), "-F", "raw"]
    process.run([*argv, str(backed)])
    world.upload("evil.qcow2", backed)
    moves = Moves()
    world.job("evil.qcow2", moves, DiskFormat.QCOW2).run()
    (failure,) = moves.failures
    assert failure.refused and isinstance(failure.error, UnsafeDiskError)
    assert "backing file" in str(failure.error)
    assert world.store.added == [] and moves.completed == []
    assert world.work_files() == []


def test_a_failed_registration_is_kilns_failure_and_removes_the_disk(world: World) -> None:
    world.upload("a.raw", disk_file(world.scratch))
    moves = Moves(raises=RuntimeError("the database went away"))
    world.job("a.raw", moves).run()
    (failure,) = moves.failures
    assert not failure.refused and "database went away" in str(failure.error)
    (added,) = world.store.added
    assert world.store.removed == [added]
    assert not DirectoryStore.path(world.store, added).exists()


def test_a_store_that_refuses_the_disk_fails_the_import(world: World) -> None:
    world.upload("a.raw", disk_file(world.scratch))
    world.store.fail_add = True
    moves = Moves()
    world.job("a.raw", moves).run()
    (failure,) = moves.failures
    assert not failure.refused and "refused the upload" in str(failure.error)
    assert moves.completed == []
    assert world.work_files() == []


def test_a_restarted_kiln_removes_the_work_of_imports_whose_process_died(tmp_path: Path) -> None:
    root = tmp_path / "imports"
    dead = root / f"{WORK_PREFIX}dead"
    alive = root / f"{WORK_PREFIX}alive"
    starting = root / f"{WORK_PREFIX}starting"
    stale = root / f"{WORK_PREFIX}stale"
    for folder in (dead, alive, starting, stale):
        folder.mkdir(parents=True)
        (folder / "source").write_bytes(MARK)
    child = subprocess.Popen(["true"])
    child.wait()
    (dead / OWNER_FILE).write_text(new_owner(child.pid))
    (alive / OWNER_FILE).write_text(new_owner())
    old = time.time() - 3600
    os.utime(stale, (old, old))  # no owner, and too old to be an import that is starting

    assert remove_abandoned_work(root) == [dead, stale]
    assert alive.is_dir() and starting.is_dir()
    assert not dead.exists() and not stale.exists()
