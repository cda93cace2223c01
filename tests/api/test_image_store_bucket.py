"""A Kiln whose eu-west-1 image store is a bucket (KILN_IMAGE_STORES=eu-west-1=s3://...), with
unmodified boto3: CopyImage into eu-west-1 uploads the disk object, DescribeImages there shows
the disk's virtual size without fetching it, a copy back to us-east-1 lands in the directory
store, DeregisterImage deletes the object; a bucket that does not exist stops Kiln at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln import process
from kiln.amis import registry
from kiln.amis.bucket_store import BucketStore
from kiln.app import Kiln
from kiln.cli.serving import background_server
from kiln.core.clock import utcnow
from kiln.core.errors import ConfigurationError
from kiln.core.ids import ami_id as new_ami_id
from kiln.settings import Settings
from tests.api.disk_files import require_qemu_img
from tests.conftest import client_for

EAST, WEST = "us-east-1", "eu-west-1"
BUCKET = "kiln-amis"
PREFIX = "west"


@pytest.fixture(scope="module", autouse=True)
def _qemu_img() -> None:
    require_qemu_img()


def settings(data_dir: Path, stores: str) -> Settings:
    environ = {"KILN_REGIONS": f"{EAST},{WEST}", "KILN_IMAGE_STORES": stores}
    return Settings.load(environ=environ, data_dir=data_dir)


@pytest.fixture
def kiln(tmp_path: Path) -> Iterator[Kiln]:
    data_dir = tmp_path / "kiln-data"
    (data_dir / "objects" / BUCKET).mkdir(parents=True)  # the default local object store
    made = Kiln(settings(data_dir, f"{WEST}=s3://{BUCKET}/{PREFIX}"))
    yield made
    made.close()


@pytest.fixture
def clients(kiln: Kiln) -> Iterator[tuple[object, object]]:
    with background_server(kiln) as url:
        admin = kiln.admin_credentials()
        yield client_for(url, admin, "ec2", region=EAST), client_for(url, admin, "ec2", region=WEST)


def east_ami(kiln: Kiln, size: str) -> str:
    """An AMI in us-east-1 (a directory store) with a qcow2 disk of virtual size `size`."""
    ami = new_ami_id()
    disk = kiln.image_stores.relative(EAST, ami)
    path = kiln.image_stores.path(disk)
    path.parent.mkdir(parents=True, exist_ok=True)
    process.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], timeout=60)
    with kiln.database.transaction() as session:
        registry.register(
            session, ami_id=ami, account=kiln.default_account, region=EAST, name="golden",
            disk=disk, now=utcnow(), size=path.stat().st_size,
        )  # fmt: skip
    return ami


def bucket_keys(kiln: Kiln) -> list[str]:
    return kiln.objects.for_bucket(BUCKET).list_objects(BUCKET)


def test_amis_copied_into_a_bucket_region_live_in_the_bucket(kiln: Kiln, clients) -> None:
    east, west = clients
    source = east_ami(kiln, "3G")
    store = kiln.image_stores.for_region(WEST)
    assert isinstance(store, BucketStore) and store.location == f"s3://{BUCKET}/{PREFIX}/"

    copied = west.copy_image(SourceRegion=EAST, SourceImageId=source, Name="golden-west")
    copied_id = copied["ImageId"]
    disk = f"{WEST}/{copied_id}.qcow2"
    assert bucket_keys(kiln) == [f"{PREFIX}/{disk}"]
    source_path = kiln.image_stores.path(f"{EAST}/{source}.qcow2")
    assert kiln.image_stores.size(disk) == source_path.stat().st_size

    store.cached(disk).unlink(missing_ok=True)  # DescribeImages must not fetch the disk
    (image,) = west.describe_images(ImageIds=[copied_id])["Images"]
    assert image["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 3
    assert image["SourceImageId"] == source
    assert not store.cached(disk).exists()

    back = east.copy_image(SourceRegion=WEST, SourceImageId=copied_id, Name="golden-again")
    back_path = kiln.image_stores.path(f"{EAST}/{back['ImageId']}.qcow2")
    assert back_path.parent == kiln.data_dir / "amis" / EAST
    assert back_path.read_bytes() == source_path.read_bytes()
    (again,) = east.describe_images(ImageIds=[back["ImageId"]])["Images"]
    assert again["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 3

    assert west.deregister_image(ImageId=copied_id)["Return"] is True
    assert bucket_keys(kiln) == []
    assert not store.cached(disk).exists()
    assert west.describe_images(Owners=["self"])["Images"] == []
    assert back_path.is_file()


def test_image_store_buckets_are_checked_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "kiln-data"
    for stores, says in (
        (f"{WEST}=s3://missing-amis/west", "bucket 'missing-amis' .* does not exist"),
        (f"{WEST}=s3://Bad_Bucket/west", "invalid bucket name"),
        ("ap-south-9=s3://kiln-amis", "does not know"),
    ):
        with pytest.raises(ConfigurationError, match=says):
            Kiln(settings(data_dir, stores))
