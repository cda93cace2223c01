"""ImportVmImage and ImportDiskImage: disks from elsewhere become Image Builder images.

- ImportVmImage takes a completed EC2 import task (`vmImportTaskId`, kiln.services.ec2.imports)
  of the caller's and records an AVAILABLE image build version (`buildType` IMPORT, `imageSource`
  IMPORTED) whose `outputResources.amis` is the task's AMI; the AMI is tied to the image, so the
  image works as a recipe parent by its ARN as well as by the AMI id.
- ImportDiskImage is, in AWS, the import of a Windows ISO. Kiln reads it as the import of a disk
  file: `uri` is `s3://bucket/key` of a raw, qcow2, vmdk, vhd, vhdx or ova file in Kiln's object
  store (the format is probed; `.ova` is unpacked safely). The infrastructure configuration must
  be the caller's and an `executionRole` must be passable (iam:PassRole), as AWS checks. The
  image is recorded PENDING (`buildType` IMPORT_ISO) and the conversion runs on a thread after
  the request commits (kiln.amis.importer); the image moves through the status table to
  AVAILABLE with its AMI, or to FAILED with the reason. An import interrupted by Kiln stopping
  leaves the image in progress: delete it and import again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kiln.amis import registry
from kiln.amis.formats import DiskFormatError
from kiln.amis.importer import (
    DiskSource,
    ImportFailedError,
    Transactions,
    discard,
    fetch_and_convert,
    start_after_commit,
    transactions_of,
    write_manifest,
)
from kiln.amis.stores import ImageStores
from kiln.core.clock import utcnow
from kiln.core.ids import ami_id as new_ami_id
from kiln.engine import status
from kiln.engine.build import output_amis
from kiln.engine.status import ImageStatus
from kiln.objectstore import InvalidS3Uri, ObjectStoreError, Resolver, parse_s3_uri
from kiln.services.context import RequestContext
from kiln.services.ec2.imports import completed_task
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.images import record_image
from kiln.services.imagebuilder.infra_named import find_named
from kiln.services.imagebuilder.passrole import require_execution_role
from kiln.services.imagebuilder.recipe_parents import LINUX
from kiln.store import resources
from kiln.store.resources import Scope

logger = logging.getLogger(__name__)

INFRASTRUCTURE = "infrastructure-configuration"
# The forward path of the status table, from a recorded import to an available image.
_TO_AVAILABLE = (
    ImageStatus.CREATING,
    ImageStatus.BUILDING,
    ImageStatus.DISTRIBUTING,
    ImageStatus.INTEGRATING,
    ImageStatus.AVAILABLE,
)


def import_vm_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    task_id = str(params["vmImportTaskId"])
    task = completed_task(ctx, task_id)
    if task is None:
        raise ResourceNotFoundException(
            f"The VM import task '{task_id}' does not exist in account {ctx.account} and "
            f"region {ctx.region}."
        )
    if task.get("Status") != "completed" or not task.get("ImageId"):
        raise InvalidParameterValueException(
            f"The VM import task '{task_id}' is {task.get('Status')}: only a completed import "
            "can become an image."
        )
    ami = registry.get(ctx.session, str(task["ImageId"]))
    if ami is None or ami.account != ctx.account:
        raise ResourceNotFoundException(
            f"The AMI {task['ImageId']} of import task '{task_id}' no longer exists."
        )
    body = _image_body(params, build_type="IMPORT", state="AVAILABLE")
    row = record_image(ctx.session, ctx.scope, body=body, now=ctx.now)
    _tie(ctx.session, ctx.data_dir, ami.ami_id, row.arn)
    status.set_body(ctx.session, row, outputResources={"amis": output_amis(ctx.session, row.arn)})
    return {"imageArn": row.arn, "clientToken": params.get("clientToken")}


def import_disk_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    infrastructure = find_named(
        ctx,
        INFRASTRUCTURE,
        str(params["infrastructureConfigurationArn"]),
        member="infrastructureConfigurationArn",
    )
    if params.get("executionRole"):
        require_execution_role(ctx, str(params["executionRole"]), member="executionRole")
    if params.get("windowsConfiguration"):
        raise InvalidParameterValueException(
            "Kiln imports Linux disk files; windowsConfiguration (a Windows ISO's image "
            "index) does not apply."
        )
    source = _disk_source(ctx, str(params["uri"]))
    if ctx.objects is None or ctx.data_dir is None:
        raise InvalidParameterValueException("Kiln's object store is not set up here.")
    body = _image_body(params, build_type="IMPORT_ISO", state="PENDING")
    body["infrastructureConfiguration"] = {
        k: v for k, v in infrastructure.body.items() if v is not None
    }
    body["executionRole"] = params.get("executionRole")
    row = record_image(ctx.session, ctx.scope, body=body, now=ctx.now)
    job = _DiskJob(
        transactions=transactions_of(ctx.session),
        objects=ctx.objects,
        store=ImageStores.under(ctx.data_dir) if ctx.images is None else ctx.images,
        work_root=ctx.data_dir / "imports",
        scope=ctx.scope,
        image_arn=row.arn,
        name=str(params["name"]),
        source=source,
    )
    start_after_commit(ctx.session, row.arn, job.run)
    return {"imageBuildVersionArn": row.arn, "clientToken": params.get("clientToken")}


def _image_body(params: dict[str, Any], *, build_type: str, state: str) -> dict[str, Any]:
    return {
        "name": params["name"],
        "version": params["semanticVersion"],
        "type": "AMI",
        "platform": params.get("platform") or LINUX,
        "osVersion": params.get("osVersion"),
        "state": {"status": state},
        "buildType": build_type,
        "imageSource": "IMPORTED",
        "loggingConfiguration": params.get("loggingConfiguration"),
        "tags": params.get("tags"),
    }


def _disk_source(ctx: RequestContext, uri: str) -> DiskSource:
    try:
        bucket, key = parse_s3_uri(uri)
    except InvalidS3Uri as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'uri' is not valid. Kiln imports disk files from "
            f"its object store (s3://bucket/key): {exc}"
        ) from exc
    if ctx.objects is None:
        raise InvalidParameterValueException("Kiln's object store is not set up here.")
    try:
        ctx.objects.for_bucket(bucket).head_object(bucket, key)
    except ObjectStoreError as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'uri' is not valid. {uri} cannot be read: {exc}"
        ) from exc
    return DiskSource(bucket, key, None)


def _tie(session: Session, data_dir: Path | None, ami_id: str, image_arn: str) -> None:
    """Make the AMI the image's: its row names the image, its manifest too (the VM build host
    finds parents given by image ARN through it)."""
    ami = registry.update(session, ami_id, image_arn=image_arn)
    if data_dir is not None:
        store = ImageStores.under(data_dir)
        write_manifest(
            store,
            ami.disk,
            {
                "name": ami.name,
                "account": ami.account,
                "imageArn": image_arn,
                "amiId": ami.ami_id,
                "region": ami.region,
            },
        )


class _DiskJob:
    """ImportDiskImage's thread: fetch, convert, register the AMI, make the image AVAILABLE."""

    def __init__(
        self,
        *,
        transactions: Transactions,
        objects: Resolver,
        store: ImageStores,
        work_root: Path,
        scope: Scope,
        image_arn: str,
        name: str,
        source: DiskSource,
    ) -> None:
        self.transactions = transactions
        self.objects = objects
        self.store = store
        self.work_root = work_root
        self.scope = scope
        self.image_arn = image_arn
        self.name = name
        self.source = source

    def run(self) -> None:
        ami = new_ami_id()
        disk = self.store.relative(self.scope.region, ami)
        try:
            self._move(ImageStatus.CREATING)
            fetch_and_convert(
                self.objects,
                self.source,
                store=self.store,
                disk=disk,
                work_root=self.work_root,
                stage=self._stage,
            )
            self._complete(ami, disk)
        except (ImportFailedError, DiskFormatError) as exc:
            discard(self.store, disk)
            self._fail(f"The disk file could not be imported: {exc}")
        except Exception as exc:
            discard(self.store, disk)
            logger.exception("ImportDiskImage %s failed", self.image_arn)
            self._fail(f"Kiln could not import the disk file: {exc}")

    def _stage(self, message: str, _percent: int) -> None:
        if message == "converting":
            self._move(ImageStatus.BUILDING)

    def _move(self, target: ImageStatus) -> None:
        with self.transactions() as session:
            status.transition(session, self.image_arn, target, now=utcnow())

    def _complete(self, ami: str, disk: str) -> None:
        with self.transactions() as session:
            row = resources.by_arn(session, self.image_arn)
            if row is None:  # deleted while importing
                raise ImportFailedError(f"the image {self.image_arn} was deleted")
            version = row.body.get("version")
            registry.register(
                session,
                ami_id=ami,
                account=self.scope.account,
                region=self.scope.region,
                name=f"{self.name} {version}-{row.build}",
                description=f"Imported by Kiln from s3://{self.source.bucket}/{self.source.key}",
                disk=disk,
                size=self.store.size(disk),
                image_arn=self.image_arn,
                now=utcnow(),
            )
            write_manifest(
                self.store,
                disk,
                {
                    "name": self.name,
                    "account": self.scope.account,
                    "imageArn": self.image_arn,
                    "amiId": ami,
                    "region": self.scope.region,
                },
            )
            status.set_body(
                session, row, outputResources={"amis": output_amis(session, self.image_arn)}
            )
            current = status.status_of(row)
            start = _TO_AVAILABLE.index(current) + 1 if current in _TO_AVAILABLE else 0
            for target in _TO_AVAILABLE[start:]:
                status.transition(session, self.image_arn, target, now=utcnow())

    def _fail(self, reason: str) -> None:
        with self.transactions() as session:
            row = resources.by_arn(session, self.image_arn)
            if row is not None and status.status_of(row) in status.IN_PROGRESS:
                status.transition(
                    session, self.image_arn, ImageStatus.FAILED, now=utcnow(), reason=reason
                )
