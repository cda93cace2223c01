"""Image Builder ImportVmImage and ImportDiskImage through unmodified boto3, and the imported
images as recipe parents."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from kiln.amis import registry
from tests.api.disk_files import (
    MARK,
    backed_qcow2,
    disk_file,
    marker_of,
    require_qemu_img,
    upload,
    wait_for,
)
from tests.conftest import client_for, make_instance_profile, sibling_client


@pytest.fixture
def ib(endpoint, admin):
    require_qemu_img()
    return client_for(endpoint, admin)


@pytest.fixture
def infrastructure(ib, endpoint, admin):
    profile = make_instance_profile(endpoint, admin, "builders")
    return ib.create_infrastructure_configuration(name="builders", instanceProfileName=profile)[
        "infrastructureConfigurationArn"
    ]


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def settled(ib, arn):
    def check():
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        return image if image["state"]["status"] in ("AVAILABLE", "FAILED") else None

    return wait_for(check, what=f"image {arn}")


def imported_task(ib, kiln, tmp_path):
    ec2 = sibling_client(ib, "ec2")
    url = upload(kiln, disk_file(tmp_path, "vpc"), "legacy.vhd")
    task_id = ec2.import_image(DiskContainers=[{"Format": "VHD", "Url": url}])["ImportTaskId"]

    def done():
        (task,) = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"]
        return task if task["Status"] == "completed" else None

    return wait_for(done, what="the EC2 import")


def test_import_vm_image_records_an_available_image_of_the_tasks_ami(ib, kiln, tmp_path):
    task = imported_task(ib, kiln, tmp_path)
    out = ib.import_vm_image(
        name="legacy-app",
        semanticVersion="2.1.0",
        platform="Linux",
        osVersion="Debian 12",
        vmImportTaskId=task["ImportTaskId"],
        tags={"origin": "vmware"},
    )
    arn = out["imageArn"]
    assert arn.endswith(":image/legacy-app/2.1.0/1")
    image = ib.get_image(imageBuildVersionArn=arn)["image"]
    assert image["state"]["status"] == "AVAILABLE"
    assert (image["type"], image["platform"], image["osVersion"]) == ("AMI", "Linux", "Debian 12")
    assert (image["buildType"], image["imageSource"]) == ("IMPORT", "IMPORTED")
    assert image["tags"] == {"origin": "vmware"}
    (ami,) = image["outputResources"]["amis"]
    assert (ami["image"], ami["region"]) == (task["ImageId"], "us-east-1")
    with kiln.database.transaction() as session:
        ami = registry.get(session, task["ImageId"])
        assert ami.image_arn == arn
        assert registry.of_image(session, arn) == [ami]
    assert ami.manifest["importTaskId"] == task["ImportTaskId"]

    # The imported image is a recipe parent by its ARN and by its AMI id.
    for parent in (arn, arn.rsplit("/", 2)[0] + "/x.x.x", task["ImageId"]):
        name = f"on-legacy-{len(parent)}"
        recipe = ib.create_image_recipe(
            name=name,
            semanticVersion="1.0.0",
            parentImage=parent,
            components=[
                {"componentArn": "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x"}
            ],
        )
        got = ib.get_image_recipe(imageRecipeArn=recipe["imageRecipeArn"])["imageRecipe"]
        assert got["parentImage"] == parent


def test_import_vm_image_needs_a_completed_task_of_the_caller(ib, kiln, tmp_path, endpoint):
    code, message = error_of(
        ib.import_vm_image,
        name="x",
        semanticVersion="1.0.0",
        platform="Linux",
        vmImportTaskId="import-ami-0123456789abcdef0",
    )
    assert code == "ResourceNotFoundException" and "does not exist" in message
    task = imported_task(ib, kiln, tmp_path)
    other = client_for(endpoint, kiln.create_account("other"))
    code, _ = error_of(
        other.import_vm_image,
        name="x",
        semanticVersion="1.0.0",
        platform="Linux",
        vmImportTaskId=task["ImportTaskId"],
    )
    assert code == "ResourceNotFoundException"


def test_import_disk_image_converts_the_file_into_an_ami(ib, kiln, infrastructure, tmp_path):
    uri = upload(kiln, disk_file(tmp_path, "qcow2"), "images/base.qcow2")
    out = ib.import_disk_image(
        name="Base Disk",
        semanticVersion="1.0.0",
        platform="Linux",
        osVersion="Debian 12",
        infrastructureConfigurationArn=infrastructure,
        uri=uri,
    )
    arn = out["imageBuildVersionArn"]
    assert arn.endswith(":image/base-disk/1.0.0/1")
    image = settled(ib, arn)
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert (image["buildType"], image["imageSource"]) == ("IMPORT_ISO", "IMPORTED")
    assert image["infrastructureConfiguration"]["arn"] == infrastructure
    (ami,) = image["outputResources"]["amis"]
    disk = kiln.data_dir / "amis" / "us-east-1" / f"{ami['image']}.qcow2"
    assert marker_of(disk, tmp_path) == MARK
    with kiln.database.transaction() as session:
        row = registry.get(session, ami["image"])
    assert (row.image_arn, row.account) == (arn, arn.split(":")[4])


def test_import_disk_image_of_an_unsafe_disk_fails_the_image(ib, kiln, infrastructure, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"x" * 4096)
    uri = upload(kiln, backed_qcow2(tmp_path, secret), "evil.qcow2")
    arn = ib.import_disk_image(
        name="evil",
        semanticVersion="1.0.0",
        platform="Linux",
        osVersion="Debian 12",
        infrastructureConfigurationArn=infrastructure,
        uri=uri,
    )["imageBuildVersionArn"]
    image = settled(ib, arn)
    assert image["state"]["status"] == "FAILED"
    assert "backing file" in image["state"]["reason"]
    assert "outputResources" not in image
    assert not list((kiln.data_dir / "amis").rglob("ami-*"))


def test_import_disk_image_checks_its_references(ib, kiln, infrastructure, tmp_path):
    uri = upload(kiln, disk_file(tmp_path), "a.raw")
    base = {
        "name": "checked",
        "semanticVersion": "1.0.0",
        "platform": "Linux",
        "osVersion": "Debian 12",
        "infrastructureConfigurationArn": infrastructure,
        "uri": uri,
    }
    missing = infrastructure.rsplit("/", 1)[0] + "/nope"
    code, _ = error_of(ib.import_disk_image, **{**base, "infrastructureConfigurationArn": missing})
    assert code == "ResourceNotFoundException"
    code, message = error_of(ib.import_disk_image, **{**base, "uri": "/etc/shadow"})
    assert code == "InvalidParameterValueException" and "object store" in message
    code, message = error_of(ib.import_disk_image, **{**base, "uri": "s3://vm-imports/none"})
    assert code == "InvalidParameterValueException" and "cannot be read" in message
    code, message = error_of(ib.import_disk_image, **{**base, "executionRole": "no-such-role"})
    assert code == "InvalidParameterValueException" and "does not exist" in message


def test_an_import_whose_kiln_died_is_failed_and_a_live_one_is_not(
    ib, kiln, infrastructure, tmp_path
):
    import socket

    from kiln.services.imagebuilder.vm_imports import fail_interrupted_imports
    from kiln.store import resources

    uri = upload(kiln, disk_file(tmp_path), "a.raw")
    arns = [
        ib.import_disk_image(
            name=name,
            semanticVersion="1.0.0",
            platform="Linux",
            osVersion="Debian 12",
            infrastructureConfigurationArn=infrastructure,
            uri=uri,
        )["imageBuildVersionArn"]
        for name in ("dead", "alive")
    ]
    for arn in arns:
        assert settled(ib, arn)["state"]["status"] == "AVAILABLE"
    dead = f"{socket.gethostname()}:999999999:1:gone"  # no such pid on this host
    with kiln.database.transaction() as session:  # as if a Kiln that died still imported
        for arn in arns:
            row = resources.by_arn(session, arn)
            owner = dead if "/dead/" in arn else row.body["kilnImport"]["owner"]
            row.body = {**row.body, "state": {"status": "BUILDING"}, "kilnImport": {"owner": owner}}
            row.status = "BUILDING"
    with kiln.database.transaction() as session:
        assert fail_interrupted_imports(session) == [arns[0]]
    failed, alive = (ib.get_image(imageBuildVersionArn=arn)["image"] for arn in arns)
    assert failed["state"]["status"] == "FAILED"
    assert "Kiln stopped during the import" in failed["state"]["reason"]
    assert "kilnImport" not in failed  # private: never shown
    assert alive["state"]["status"] == "BUILDING"
