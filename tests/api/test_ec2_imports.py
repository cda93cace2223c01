"""EC2 ImportImage, DescribeImportImageTasks and CancelImportTask through unmodified boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from kiln.amis import registry
from tests.api.disk_files import (
    BUCKET,
    MARK,
    backed_qcow2,
    disk_file,
    marker_of,
    require_qemu_img,
    upload,
    wait_for,
)
from tests.conftest import client_for


@pytest.fixture
def ec2(endpoint, admin):
    require_qemu_img()
    return client_for(endpoint, admin, "ec2")


def finished(ec2, task_id):
    def check():
        (task,) = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"]
        return task if task["Status"] in ("completed", "deleted") else None

    return wait_for(check, what=f"import task {task_id}")


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_a_raw_disk_in_a_bucket_becomes_an_ami_of_the_caller(ec2, kiln, admin, tmp_path):
    upload(kiln, disk_file(tmp_path), "disks/web.raw")
    bucket = {"S3Bucket": BUCKET, "S3Key": "disks/web.raw"}
    tags = [{"Key": "team", "Value": "web"}]
    started = ec2.import_image(
        Description="web server",
        DiskContainers=[{"Format": "RAW", "UserBucket": bucket}],
        TagSpecifications=[{"ResourceType": "import-image-task", "Tags": tags}],
    )
    task_id = started["ImportTaskId"]
    assert task_id.startswith("import-ami-") and len(task_id) == len("import-ami-") + 17
    assert started["Status"] == "active"
    assert started["Tags"] == [{"Key": "team", "Value": "web"}]
    task = finished(ec2, task_id)
    assert task["Status"] == "completed", task
    assert "Progress" not in task
    ami_id = task["ImageId"]
    (detail,) = task["SnapshotDetails"]
    assert detail["UserBucket"] == {"S3Bucket": BUCKET, "S3Key": "disks/web.raw"}
    assert (detail["Format"], detail["Status"]) == ("RAW", "completed")
    assert detail["DiskImageSize"] == 4 * 1024 * 1024

    with kiln.database.transaction() as session:
        ami = registry.get(session, ami_id)
    assert ami is not None
    assert (ami.account, ami.name, ami.description) == (admin.account, task_id, "web server")
    assert ami.manifest == {"importTaskId": task_id, "sourceFormat": "raw"}
    assert ami.disk == f"us-east-1/{ami_id}.qcow2"
    disk = kiln.data_dir / "amis" / "us-east-1" / f"{ami_id}.qcow2"
    assert marker_of(disk, tmp_path) == MARK
    assert not disk.with_suffix(".json").exists()  # what is worth keeping is in the row
    assert not [p for p in (kiln.data_dir / "imports").rglob("*") if p.is_file()]

    # A completed task cannot be canceled; the state filter finds it.
    code, message = error_of(ec2.cancel_import_task, ImportTaskId=task_id)
    assert code == "InvalidParameterValue" and "completed" in message
    done = ec2.describe_import_image_tasks(
        Filters=[{"Name": "task-state", "Values": ["completed"]}]
    )["ImportImageTasks"]
    assert [t["ImportTaskId"] for t in done] == [task_id]
    none = ec2.describe_import_image_tasks(Filters=[{"Name": "task-state", "Values": ["active"]}])
    assert none["ImportImageTasks"] == []


def test_an_s3_url_without_format_probes_a_vmdk(ec2, kiln, tmp_path):
    vmdk = disk_file(tmp_path, "vmdk", "-o", "subformat=streamOptimized")
    url = upload(kiln, vmdk, "vm.vmdk")
    task_id = ec2.import_image(DiskContainers=[{"Url": url}])["ImportTaskId"]
    task = finished(ec2, task_id)
    assert task["Status"] == "completed", task
    assert task["SnapshotDetails"][0]["Format"] == "VMDK"
    disk = kiln.data_dir / "amis" / "us-east-1" / f"{task['ImageId']}.qcow2"
    assert marker_of(disk, tmp_path) == MARK


def test_a_qcow2_naming_a_host_file_as_backing_ends_deleted_without_an_ami(ec2, kiln, tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_bytes(b"secret\n" * 1000)
    upload(kiln, backed_qcow2(tmp_path, secret), "evil.qcow2")
    bucket = {"S3Bucket": BUCKET, "S3Key": "evil.qcow2"}
    task_id = ec2.import_image(DiskContainers=[{"Format": "qcow2", "UserBucket": bucket}])[
        "ImportTaskId"
    ]
    task = finished(ec2, task_id)
    assert task["Status"] == "deleted"
    assert task["StatusMessage"].startswith("ClientError: ")
    assert "backing file" in task["StatusMessage"]
    assert "ImageId" not in task
    assert not list((kiln.data_dir / "amis").rglob("ami-*"))


def test_a_disk_declared_raw_that_is_a_vmdk_is_refused(ec2, kiln, tmp_path):
    url = upload(kiln, disk_file(tmp_path, "vmdk"), "lying.raw")
    task_id = ec2.import_image(DiskContainers=[{"Format": "RAW", "Url": url}])["ImportTaskId"]
    task = finished(ec2, task_id)
    assert task["Status"] == "deleted"
    assert "declared RAW but is a VMDK" in task["StatusMessage"]


@pytest.mark.parametrize(
    ("container", "code", "words"),
    [
        ({"Url": "https://example.com/disk.vmdk"}, "InvalidParameterValue", "object store only"),
        ({"Url": "file:///etc/shadow"}, "InvalidParameterValue", "object store only"),
        ({"Url": "s3://vm-imports/missing.raw"}, "InvalidParameterValue", "Cannot read"),
        ({"UserBucket": {"S3Bucket": "vm-imports"}}, "MissingParameter", "S3Key"),
        ({"SnapshotId": "snap-0123456789abcdef0"}, "InvalidParameterValue", "snapshots"),
        ({"Format": "ISO", "Url": "s3://vm-imports/a.raw"}, "InvalidParameterValue", "format"),
    ],
)
def test_disk_containers_kiln_cannot_import_are_refused(
    ec2, kiln, tmp_path, container, code, words
):
    upload(kiln, disk_file(tmp_path), "a.raw")
    found, message = error_of(ec2.import_image, DiskContainers=[container])
    assert found == code
    assert words in message


def test_one_disk_per_image(ec2, kiln, tmp_path):
    url = upload(kiln, disk_file(tmp_path), "a.raw")
    code, message = error_of(ec2.import_image, DiskContainers=[{"Url": url}, {"Url": url}])
    assert code == "InvalidParameterValue" and "one disk" in message


def test_unknown_and_malformed_task_ids(ec2):
    code, _ = error_of(
        ec2.describe_import_image_tasks, ImportTaskIds=["import-ami-0123456789abcdef0"]
    )
    assert code == "InvalidConversionTaskId"
    code, _ = error_of(ec2.describe_import_image_tasks, ImportTaskIds=["task-1"])
    assert code == "InvalidConversionTaskId.Malformed"
    code, _ = error_of(ec2.cancel_import_task, ImportTaskId="import-ami-0123456789abcdef0")
    assert code == "InvalidConversionTaskId"
    assert ec2.describe_import_image_tasks()["ImportImageTasks"] == []


def test_tasks_are_per_account(ec2, kiln, endpoint, tmp_path):
    url = upload(kiln, disk_file(tmp_path), "a.raw")
    task_id = ec2.import_image(DiskContainers=[{"Url": url}])["ImportTaskId"]
    finished(ec2, task_id)
    other = client_for(endpoint, kiln.create_account("other"), "ec2")
    assert other.describe_import_image_tasks()["ImportImageTasks"] == []
    code, _ = error_of(other.describe_import_image_tasks, ImportTaskIds=[task_id])
    assert code == "InvalidConversionTaskId"


def test_a_task_whose_kiln_died_is_shown_deleted(ec2, kiln, tmp_path):
    import socket

    from kiln.store import resources

    url = upload(kiln, disk_file(tmp_path), "a.raw")
    task_id = ec2.import_image(DiskContainers=[{"Url": url}])["ImportTaskId"]
    finished(ec2, task_id)
    dead = f"{socket.gethostname()}:999999999:1:gone"  # no such pid on this host
    with kiln.database.transaction() as session:  # as if a Kiln that died still ran it
        rows = resources.listing(session, resource_type="import-image-task", region="us-east-1")
        (row,) = [r for r in rows if r.name == task_id]
        row.body = {**row.body, "Status": "active", "Kiln": {"owner": dead}}
    (task,) = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"]
    assert task["Status"] == "deleted"
    assert "Kiln stopped" in task["StatusMessage"]
