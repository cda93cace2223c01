"""CopyImage's shared core: a copy is a new AMI of its own account and region whose disk has the
source's bytes in the destination region's store; only what the account may launch is copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.amis import registry
from kiln.amis.copies import AmiNotFoundError, copy_ami, launchable_source
from kiln.amis.disks import DirectoryStore
from kiln.amis.registry import DuplicateAmiNameError
from kiln.amis.stores import ImageStores
from kiln.core.clock import utcnow
from kiln.core.errors import ConfigurationError
from kiln.core.ids import ami_id
from kiln.objectstore import BucketPrefix
from kiln.settings import Settings
from kiln.store.database import Database, sqlite_url

OWNER, OTHER = "111111111111", "222222222222"


@pytest.fixture
def database(tmp_path: Path):
    db = Database(sqlite_url(tmp_path))
    db.migrate()
    yield db
    db.dispose()


def _source(database: Database, stores: ImageStores, **extra):
    ami = ami_id()
    disk = stores.relative("us-east-1", ami)
    path = stores.path(disk)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"disk bytes")
    with database.transaction() as session:
        return registry.register(
            session, ami_id=ami, account=OWNER, region="us-east-1", name="base", disk=disk,
            now=utcnow(), size=10, **extra,
        )  # fmt: skip


def test_a_copy_into_another_regions_store_is_a_new_ami(database: Database, tmp_path: Path):
    stores = ImageStores.under(tmp_path, {"eu-west-1": DirectoryStore(tmp_path / "eu")})
    source = _source(database, stores, launch_permissions=[{"UserId": OTHER}])
    with database.transaction() as session:
        found = launchable_source(session, source.ami_id, region="us-east-1", account=OTHER)
        copy = copy_ami(
            session, stores, found, region="eu-west-1", account=OTHER, name="mine",
            now=utcnow(), tags={"k": "v"}, kms_key_id="alias/eu",
        )  # fmt: skip
    assert copy.ami_id != source.ami_id
    assert (copy.account, copy.region, copy.source_ami) == (OTHER, "eu-west-1", source.ami_id)
    assert copy.launch_permissions == () and copy.kms_key_id == "alias/eu"
    path = stores.path(copy.disk)
    assert path.parent == tmp_path / "eu" / "eu-west-1" and path.read_bytes() == b"disk bytes"
    assert path.stat().st_ino == stores.path(source.disk).stat().st_ino  # a hard link


def test_only_a_launchable_source_is_copied(database: Database, tmp_path: Path):
    stores = ImageStores.under(tmp_path)
    source = _source(database, stores)
    with database.transaction() as session, pytest.raises(AmiNotFoundError):
        launchable_source(session, source.ami_id, region="us-east-1", account=OTHER)
    with database.transaction() as session, pytest.raises(AmiNotFoundError):
        launchable_source(session, source.ami_id, region="eu-west-1", account=OWNER)


def test_a_taken_name_leaves_no_disk_behind(database: Database, tmp_path: Path):
    stores = ImageStores.under(tmp_path)
    source = _source(database, stores)
    with database.transaction() as session, pytest.raises(DuplicateAmiNameError):
        copy_ami(
            session, stores, source, region="us-east-1", account=OWNER, name="base", now=utcnow()
        )
    assert [p.name for p in (tmp_path / "amis" / "us-east-1").iterdir()] == [
        f"{source.ami_id}.qcow2"
    ]


def test_regions_and_image_stores_come_from_the_settings(tmp_path: Path):
    settings = Settings.load(
        environ={
            "KILN_REGIONS": "us-east-1, eu-west-1",
            "KILN_IMAGE_STORES": f"eu-west-1={tmp_path}/eu, us-east-1=s3://kiln-amis/us/east/",
        },
        data_dir=tmp_path,
    )
    assert settings.region_names() == {"us-east-1", "eu-west-1"}
    assert settings.image_store_map() == {
        "eu-west-1": tmp_path / "eu",
        "us-east-1": BucketPrefix("kiln-amis", "us/east"),
    }
    assert Settings.load(
        environ={"KILN_IMAGE_STORES": "us-east-1=s3://kiln-amis"}, data_dir=tmp_path
    ).image_store_map() == {"us-east-1": BucketPrefix("kiln-amis", "")}
    for bad, says in (
        ({"KILN_REGIONS": "eu-west-1"}, "serving region"),
        ({"KILN_REGIONS": "us-east-1,Mars"}, "not region names"),
        ({"KILN_REGIONS": "us-east-1", "KILN_IMAGE_STORES": "eu-west-1=/srv"}, "does not know"),
        ({"KILN_IMAGE_STORES": "eu-north-9=s3://kiln-amis"}, "does not know"),
        ({"KILN_IMAGE_STORES": "us-east-1=s3://Kiln_AMIs/x"}, "invalid bucket name 'Kiln_AMIs'"),
        ({"KILN_IMAGE_STORES": "us-east-1=s3://kiln-amis/a/../b"}, "'..' segment"),
        ({"KILN_IMAGE_STORES": "us-east-1=s3://"}, "names no bucket"),
        ({"KILN_IMAGE_STORES": "us-east-1=gs://kiln-amis"}, "neither a directory nor"),
    ):
        loaded = Settings.load(environ=bad, data_dir=tmp_path)
        with pytest.raises(ConfigurationError, match=says):
            loaded.image_store_map()
