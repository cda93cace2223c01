"""LocalDirectoryStore specifics: nothing a key says may leave its bucket folder; atomic writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from kiln.objectstore import InvalidName, LocalDirectoryStore, NoSuchBucket, ObjectStoreError


@pytest.fixture
def store(tmp_path: Path) -> LocalDirectoryStore:
    made = LocalDirectoryStore(tmp_path / "root")
    made.create_bucket("bucket")
    return made


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "a/../../escape",
        "a/..",
        "..",
        "/etc/passwd",
        "//double",
        "a//b",
        "./a",
        "a/./b",
        "trailing/",
        "nul\0byte",
        "",
        "x" * 1025,
    ],
)
def test_keys_that_could_escape_or_cannot_map_are_refused(
    store: LocalDirectoryStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InvalidName):
        store.put_object("bucket", key, b"owned")
    with pytest.raises(InvalidName):
        store.get_object("bucket", key)
    with pytest.raises(InvalidName):
        store.head_object("bucket", key)
    with pytest.raises(InvalidName):
        store.delete_object("bucket", key)
    assert not (tmp_path / "escape").exists()
    assert store.list_objects("bucket") == []


@pytest.mark.parametrize("bucket", ["..", ".", "a/b", "../root", "UPPER", "ab", "-abc", ".tmp"])
def test_bucket_names_that_are_not_s3_names_are_refused(
    store: LocalDirectoryStore, bucket: str
) -> None:
    with pytest.raises(InvalidName):
        store.create_bucket(bucket)
    with pytest.raises(InvalidName):
        store.put_object(bucket, "k", b"x")


def test_a_symlinked_folder_inside_a_bucket_is_not_followed(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not read")
    (tmp_path / "root" / "bucket" / "link").symlink_to(outside)
    with pytest.raises(InvalidName, match="symlink"):
        store.get_object("bucket", "link/secret")
    with pytest.raises(InvalidName, match="symlink"):
        store.put_object("bucket", "link/planted", b"x")
    with pytest.raises(InvalidName, match="symlink"):
        store.delete_object("bucket", "link/secret")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert store.list_objects("bucket") == []


def test_a_symlinked_object_is_not_followed(store: LocalDirectoryStore, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"outside")
    (tmp_path / "root" / "bucket" / "object").symlink_to(target)
    with pytest.raises(InvalidName):
        store.get_object("bucket", "object")
    with pytest.raises(InvalidName):
        store.put_object("bucket", "object", b"overwrite")
    assert target.read_bytes() == b"outside"


def test_a_symlinked_bucket_folder_is_not_a_bucket(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root" / "linked").symlink_to(tmp_path / "elsewhere")
    assert not store.bucket_exists("linked")
    with pytest.raises(NoSuchBucket):
        store.put_object("linked", "k", b"x")
    with pytest.raises(ObjectStoreError):
        store.create_bucket("linked")
    assert list((tmp_path / "elsewhere").iterdir()) == []


class FailingStream(io.RawIOBase):
    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.sent >= 3:
            raise OSError("network went away")
        self.sent += 1
        buffer[:4] = b"part"
        return 4


def test_a_failed_write_leaves_the_old_object_and_no_temp_file(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    store.put_object("bucket", "k", b"old")
    with pytest.raises(ObjectStoreError, match="network went away"):
        store.put_object("bucket", "k", io.BufferedReader(FailingStream()))
    with store.get_object("bucket", "k") as body:
        assert body.read() == b"old"
    assert list((tmp_path / "root" / ".tmp").iterdir()) == []


def test_objects_land_as_plain_files_under_the_bucket_folder(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    store.put_object("bucket", "logs/2026/build.log", b"line\n")
    assert (tmp_path / "root" / "bucket" / "logs" / "2026" / "build.log").read_bytes() == b"line\n"


def test_delete_drops_folders_only_that_key_kept(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    store.put_object("bucket", "a/b/c/d", b"x")
    store.put_object("bucket", "a/keep", b"x")
    store.delete_object("bucket", "a/b/c/d")
    bucket = tmp_path / "root" / "bucket"
    assert not (bucket / "a" / "b").exists()
    assert (bucket / "a" / "keep").exists()
    store.delete_object("bucket", "a/keep")
    assert bucket.is_dir()
    assert list(bucket.iterdir()) == []


def test_a_key_and_a_folder_of_the_same_name_conflict(store: LocalDirectoryStore) -> None:
    store.put_object("bucket", "a", b"file")
    with pytest.raises(ObjectStoreError) as caught:
        store.put_object("bucket", "a/b", b"x")
    assert caught.value.code == "KeyConflict"
    store.put_object("bucket", "c/d", b"x")
    with pytest.raises(ObjectStoreError, match="collides"):
        store.put_object("bucket", "c", b"x")


def test_overlong_segments_are_invalid_names(store: LocalDirectoryStore) -> None:
    with pytest.raises(InvalidName):
        store.put_object("bucket", "x" * 300, b"x")


def test_content_type_without_a_stored_one_is_guessed(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    (tmp_path / "root" / "bucket" / "page.html").write_bytes(b"<p>")
    (tmp_path / "root" / "bucket" / "blob").write_bytes(b"\0")
    assert store.head_object("bucket", "page.html").content_type == "text/html"
    assert store.head_object("bucket", "blob").content_type == "binary/octet-stream"
    assert store.head_object("bucket", "blob").etag  # a file put there by hand has an ETag too


def test_listing_skips_the_staging_folder_and_stray_symlinks(
    store: LocalDirectoryStore, tmp_path: Path
) -> None:
    store.put_object("bucket", "real", b"x")
    os.symlink("real", tmp_path / "root" / "bucket" / "alias")
    assert store.list_objects("bucket") == ["real"]
