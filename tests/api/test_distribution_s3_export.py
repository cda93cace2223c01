"""The distribution configuration's S3 export: DistributeImage writes the region's AMI as a
disk file into Kiln's object store, as the role `roleName` of the distributing account, which
must exist and be allowed s3:PutObject on the object."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiln.amis import registry
from kiln.app import Kiln
from kiln.cli.serving import background_server
from kiln.core.clock import utcnow
from kiln.core.ids import ami_id
from kiln.engine.context import EngineConfig
from kiln.engine.fakes import FakeBuildHost
from kiln.executors.threads import ThreadExecutor
from kiln.settings import Settings
from tests.conftest import IMAGEBUILDER_TRUST, client_for

REGION = "us-east-1"
BUCKET = "exports"
VMIE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "vmie.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed"
)


@dataclass
class World:
    kiln: Kiln
    url: str
    admin: Any

    def client(self, service: str = "imagebuilder") -> Any:
        return client_for(self.url, self.admin, service, region=REGION)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    kiln = Kiln(Settings.load(environ={}, data_dir=tmp_path / "kiln"))
    config = EngineConfig(kiln.data_dir, poll_interval=0.05, objects=kiln.objects)
    executor = ThreadExecutor(
        kiln.database, FakeBuildHost(), config,
        workers=1, lease=dt.timedelta(seconds=5), idle_wait=0.05,
    ).start()  # fmt: skip
    try:
        with background_server(kiln) as url:
            yield World(kiln, url, kiln.admin_credentials())
    finally:
        executor.stop(timeout=10)
        kiln.close()


def _source_ami(world: World) -> str:
    """A real (small, empty) qcow2 disk registered as an AMI of the account."""
    ami = ami_id()
    disk = world.kiln.data_dir / "amis" / REGION / f"{ami}.qcow2"
    disk.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    with world.kiln.database.transaction() as session:
        registry.register(
            session, ami_id=ami, account=world.admin.account, region=REGION, name="golden",
            disk=f"{REGION}/{ami}.qcow2", now=utcnow(), size=disk.stat().st_size,
        )  # fmt: skip
    return ami


def _export_role(world: World, *, may_put: bool) -> None:
    iam = world.client("iam")
    iam.create_role(RoleName="vmimport", AssumeRolePolicyDocument=json.dumps(VMIE_TRUST))
    if may_put:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/golden/*",
                }
            ],
        }
        iam.put_role_policy(
            RoleName="vmimport", PolicyName="export", PolicyDocument=json.dumps(policy)
        )


def _distribute(world: World, fmt: str) -> str:
    ib = world.client()
    execution_role = world.client("iam").create_role(
        RoleName="distributor", AssumeRolePolicyDocument=json.dumps(IMAGEBUILDER_TRUST)
    )["Role"]["Arn"]
    configuration = ib.create_distribution_configuration(
        name="export",
        distributions=[
            {
                "region": REGION,
                "amiDistributionConfiguration": {"name": "golden {{ imagebuilder:buildDate }}"},
                "s3ExportConfiguration": {
                    "roleName": "vmimport",
                    "diskImageFormat": fmt,
                    "s3Bucket": BUCKET,
                    "s3Prefix": "golden",
                },
            }
        ],
    )["distributionConfigurationArn"]
    return str(
        ib.distribute_image(
            sourceImage=_source_ami(world),
            distributionConfigurationArn=configuration,
            executionRole=execution_role,
        )["imageBuildVersionArn"]
    )


def _settled(world: World, arn: str) -> dict[str, Any]:
    ib = world.client()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] in ("AVAILABLE", "FAILED"):
            return dict(image)
        time.sleep(0.2)
    raise AssertionError(f"{arn} did not settle")


def _objects(world: World) -> list[Path]:
    folder = world.kiln.data_dir / "objects" / BUCKET
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_the_ami_lands_in_the_bucket_as_a_vmdk(world: World) -> None:
    (world.kiln.data_dir / "objects" / BUCKET).mkdir(parents=True, exist_ok=True)
    _export_role(world, may_put=True)
    image = _settled(world, _distribute(world, "VMDK"))
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    exported = [p for p in _objects(world) if p.suffix == ".vmdk"]
    assert len(exported) == 1, _objects(world)
    assert exported[0].name.startswith("export-ami-")
    assert "golden" in exported[0].relative_to(world.kiln.data_dir / "objects").parts
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(exported[0])],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert json.loads(info.stdout)["format"] == "vmdk"


def test_a_role_without_put_object_fails_the_export_naming_it(world: World) -> None:
    (world.kiln.data_dir / "objects" / BUCKET).mkdir(parents=True, exist_ok=True)
    _export_role(world, may_put=False)
    image = _settled(world, _distribute(world, "RAW"))
    assert image["state"]["status"] == "FAILED"
    reason = image["state"]["reason"]
    assert "vmimport" in reason and "s3:PutObject" in reason and f"arn:aws:s3:::{BUCKET}/" in reason
    assert not _objects(world)


def test_a_missing_role_fails_the_export_naming_it(world: World) -> None:
    (world.kiln.data_dir / "objects" / BUCKET).mkdir(parents=True, exist_ok=True)
    image = _settled(world, _distribute(world, "VHD"))
    assert image["state"]["status"] == "FAILED"
    assert "'vmimport'" in image["state"]["reason"] and "does not exist" in image["state"]["reason"]
