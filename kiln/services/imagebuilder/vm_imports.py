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
  AVAILABLE with its AMI, or to FAILED with the reason. The importing process is recorded on
  the image (a private member, never shown); `fail_interrupted_imports` fails the imports whose
  process died (Kiln stopped) with a reason saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.amis import registry
from kiln.amis.importer import (
    IMPORTS_FOLDER,
    DiskSource,
    Failure,
    Imported,
    ImportJob,
    start_after_commit,
    transactions_of,
)
from kiln.core.clock import utcnow
from kiln.engine import status
from kiln.engine.build import output_amis
from kiln.engine.owners import is_dead, new_owner
from kiln.engine.status import ImageStatus
from kiln.objectstore import InvalidS3Uri, ObjectStoreError, parse_s3_uri
from kiln.services.context import RequestContext
from kiln.services.ec2.ami_access import image_stores
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
from kiln.store.schema import ResourceRow

INFRASTRUCTURE = "infrastructure-configuration"
IMAGE = "image"
PRIVATE = "kilnImport"  # {"owner": the importing process}; not a member of the Image shape
INTERRUPTED = "Kiln stopped during the import; delete the image and import the disk again"
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
    _tie(ctx.session, ami.ami_id, row.arn)
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
    body[PRIVATE] = {"owner": new_owner()}
    row = record_image(ctx.session, ctx.scope, body=body, now=ctx.now)
    job = ImportJob(
        transactions=transactions_of(ctx.session),
        objects=ctx.objects,
        stores=image_stores(ctx),
        work_root=ctx.data_dir / IMPORTS_FOLDER,
        region=ctx.region,
        source=source,
        moves=_ImageMoves(row.arn, ctx.scope, str(params["name"]), source),
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


def _tie(session: Session, ami_id: str, image_arn: str) -> None:
    """Make the AMI the image's: its registry row names the image (the VM build host finds
    parents given by image ARN through it)."""
    registry.update(session, ami_id, image_arn=image_arn)


def fail_interrupted_imports(session: Session) -> list[str]:
    """Fail the ImportDiskImage imports whose Kiln process died; returns their image ARNs.
    (A restarted Kiln calls this: an import's thread does not survive its process.)"""
    in_progress = [s.value for s in status.IN_PROGRESS]
    rows = session.scalars(
        select(ResourceRow).where(
            ResourceRow.resource_type == IMAGE, ResourceRow.status.in_(in_progress)
        )
    )
    failed = []
    for row in rows:
        private = row.body.get(PRIVATE)
        if isinstance(private, dict) and is_dead(private.get("owner")):
            status.transition(
                session, row.arn, ImageStatus.FAILED, now=utcnow(), reason=INTERRUPTED
            )
            failed.append(row.arn)
    return failed


@dataclass(frozen=True)
class _ImageMoves:
    """How ImportDiskImage's import shows on its image (kiln.amis.importer.StatusMoves)."""

    image_arn: str
    scope: Scope
    name: str
    source: DiskSource

    def stage(self, session: Session, message: str, _percent: int) -> None:
        target = _STAGES.get(message)
        if target is not None:
            status.transition(session, self.image_arn, target, now=utcnow())

    def fail(self, session: Session, failure: Failure) -> None:
        if failure.refused:
            reason = f"The disk file could not be imported: {failure.error}"
        else:
            reason = f"Kiln could not import the disk file: {failure.error}"
        row = resources.by_arn(session, self.image_arn)
        if row is not None and status.status_of(row) in status.IN_PROGRESS:
            status.transition(
                session, self.image_arn, ImageStatus.FAILED, now=utcnow(), reason=reason
            )

    def complete(self, session: Session, imported: Imported) -> bool:
        row = resources.by_arn(session, self.image_arn)
        if row is None:  # deleted while importing
            return False
        version = row.body.get("version")
        registry.register(
            session,
            ami_id=imported.ami_id,
            account=self.scope.account,
            region=self.scope.region,
            name=f"{self.name} {version}-{row.build}",
            description=f"Imported by Kiln from s3://{self.source.bucket}/{self.source.key}",
            disk=imported.disk,
            size=imported.size,
            image_arn=self.image_arn,
            now=utcnow(),
            manifest={"sourceFormat": imported.info.format.value},
        )
        status.set_body(
            session, row, outputResources={"amis": output_amis(session, self.image_arn)}
        )
        current = status.status_of(row)
        start = _TO_AVAILABLE.index(current) + 1 if current in _TO_AVAILABLE else 0
        for target in _TO_AVAILABLE[start:]:
            status.transition(session, self.image_arn, target, now=utcnow())
        return True


# The importer's stages that move the image: fetching is CREATING, converting BUILDING.
_STAGES = {"downloading": ImageStatus.CREATING, "converting": ImageStatus.BUILDING}
