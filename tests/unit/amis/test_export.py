"""AMI disks exported into the object store under VM Import/Export's key layout."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kiln import process
from kiln.amis.export import export_key, export_to_file, export_to_object_store, new_export_task_id
from kiln.amis.formats import DiskFormatError
from kiln.objectstore import NoSuchBucket, ObjectStoreConfig, Resolver


@pytest.fixture
def ami(tmp_path: Path) -> Path:
    if shutil.which("qemu-img") is None:
        reason = "qemu-img is not installed (scripts/debian-packages.txt)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    disk = tmp_path / "ami.qcow2"
    process.run(["qemu-img", "create", "-f", "qcow2", str(disk), "8M"])
    return disk


def test_export_keys_follow_vm_import_export() -> None:
    task = new_export_task_id()
    assert task.startswith("export-ami-") and len(task) == len("export-ami-") + 17
    assert export_key("exports/", task, "VMDK") == f"exports/{task}.vmdk"
    assert export_key("exports", task, "vhd") == f"exports/{task}.vhd"
    assert export_key(None, task, "RAW") == f"{task}.raw"
    with pytest.raises(DiskFormatError):
        export_key("x", task, "iso")


def test_export_to_the_object_store_writes_the_converted_disk(ami: Path, tmp_path: Path) -> None:
    objects = Resolver(ObjectStoreConfig.local(tmp_path / "data"))
    objects.for_bucket("exports").create_bucket("exports")
    key = export_key("images", "export-ami-0123456789abcdef0", "VMDK")
    export_to_object_store(objects, ami, "VMDK", "exports", key)
    store = objects.for_bucket("exports")
    assert store.list_objects("exports") == ["images/export-ami-0123456789abcdef0.vmdk"]
    local = tmp_path / "fetched.vmdk"
    with store.get_object("exports", key) as body:
        local.write_bytes(body.read())
    info = json.loads(process.run(["qemu-img", "info", "--output=json", str(local)]).text)
    assert info["format"] == "vmdk" and info["virtual-size"] == 8 * 1024 * 1024
    assert store.head_object("exports", key).content_type == "application/x-vmdk"
    with pytest.raises(NoSuchBucket):
        export_to_object_store(objects, ami, "raw", "missing-bucket", "a.raw")


def test_export_to_a_file(ami: Path, tmp_path: Path) -> None:
    out = export_to_file(ami, "raw", tmp_path / "out" / "disk.raw")
    assert out.stat().st_size == 8 * 1024 * 1024
