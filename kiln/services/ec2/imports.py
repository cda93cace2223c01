"""ImportImage, DescribeImportImageTasks and CancelImportTask: VM disks into AMIs.

A disk container names an object of Kiln's object store, as `UserBucket {S3Bucket, S3Key}` or
`Url` `s3://bucket/key` (no other scheme: no host paths, no web fetches). `Format` is RAW, VHD,
VHDX, VMDK, OVA, or Kiln's extension QCOW2; without it the file's format is probed. Kiln's AMIs
have one disk, so an import takes one disk container.

The task is a row of the generic `resources` table (type `import-image-task`) whose body is the
`ImportImageTask` shape plus Kiln's own `Kiln` member (owner process, source, cancellation),
never shown. ImportImage answers at once (`active` / `pending`); the conversion runs on a thread
after the request commits (kiln.amis.importer) and moves the task through `downloading`,
`converting`, `preparing ami` to `completed` with its `ImageId` (an AMI named after the task,
owned by the caller), or to `deleted` with `ClientError: ...` / `ServerError: ...` as EC2
words failures. A task whose Kiln process died is shown `deleted` from then on.

CancelImportTask moves an active task to `deleting`; its thread discards the disk and ends it
`deleted` instead of registering the AMI.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kiln.amis import registry
from kiln.amis.formats import DiskFormat, DiskFormatError, parse_format
from kiln.amis.importer import (
    IMPORTS_FOLDER,
    DiskSource,
    Failure,
    Imported,
    ImportJob,
    start_after_commit,
    transactions_of,
)
from kiln.core.arn import PARTITION, Arn
from kiln.core.clock import utcnow
from kiln.core.errors import ClientError
from kiln.engine.owners import is_dead, new_owner
from kiln.objectstore import InvalidS3Uri, ObjectStoreError, Resolver, parse_s3_uri
from kiln.objectstore.names import check_bucket, check_key
from kiln.services.context import RequestContext
from kiln.services.ec2 import filters, paging
from kiln.services.ec2.ami_access import dry_run, image_stores
from kiln.services.ec2.errors import InvalidParameterValue, MissingParameter
from kiln.services.ec2.tags import tag_map
from kiln.store import resources
from kiln.store.resources import Scope
from kiln.store.schema import ResourceRow

RESOURCE = "import-image-task"
ACTIVE, COMPLETED, DELETING, DELETED = "active", "completed", "deleting", "deleted"
PRIVATE = "Kiln"
TASK_ID_PREFIX = "import-ami-"
_m = filters.member
TASK_FILTERS: dict[str, filters.Getter] = {"task-state": _m("Status")}


class InvalidConversionTaskId(ClientError):
    code = "InvalidConversionTaskId"


class InvalidConversionTaskIdMalformed(ClientError):
    code = "InvalidConversionTaskId.Malformed"


def new_task_id() -> str:
    return TASK_ID_PREFIX + secrets.token_hex(9)[:17]


def task_arn(scope: Scope, task_id: str) -> str:
    return str(Arn(PARTITION, "ec2", scope.region, scope.account, f"{RESOURCE}/{task_id}"))


# -- operations -------------------------------------------------------------------------------


def import_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    container = _one_container(params.get("DiskContainers"))
    source = disk_source(ctx, container)
    dry_run(params)
    if ctx.objects is None or ctx.data_dir is None:
        raise InvalidParameterValue("Kiln's object store and image store are not set up here.")
    task_id = new_task_id()
    tags = [
        {"Key": k, "Value": v}
        for k, v in tag_map(_task_tags(params.get("TagSpecifications"))).items()
    ]
    body = {
        "ImportTaskId": task_id,
        "Status": ACTIVE,
        "StatusMessage": "pending",
        "Progress": "0",
        "Description": params.get("Description"),
        "Architecture": params.get("Architecture") or "x86_64",
        "Platform": params.get("Platform") or "Linux",
        "LicenseType": params.get("LicenseType"),
        "BootMode": params.get("BootMode") or "legacy-bios",
        "SnapshotDetails": [_snapshot_detail(container, source, ACTIVE)],
        "Tags": tags or None,
        PRIVATE: {"owner": new_owner(), "bucket": source.bucket, "key": source.key},
    }
    arn = task_arn(ctx.scope, task_id)
    resources.add(
        ctx.session,
        ctx.scope,
        resource_type=RESOURCE,
        arn=arn,
        name=task_id,
        arn_name=task_id,
        body={k: v for k, v in body.items() if v is not None},
        tags={t["Key"]: t["Value"] for t in tags},
        now=ctx.now,
        status=ACTIVE,
    )
    job = ImportJob(
        transactions=transactions_of(ctx.session),
        objects=ctx.objects,
        stores=image_stores(ctx),
        work_root=ctx.data_dir / IMPORTS_FOLDER,
        region=ctx.region,
        source=source,
        moves=_TaskMoves(arn, ctx.scope),
    )
    start_after_commit(ctx.session, task_id, job.run)
    answer = _view(body)
    answer.pop("BootMode", None)  # a member of ImportImageTask, not of ImportImage's answer
    return answer


def describe_import_image_tasks(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rows = resources.listing(
        ctx.session, resource_type=RESOURCE, region=ctx.region, owners=[ctx.account]
    )
    wanted = params.get("ImportTaskIds") or []
    for task_id in wanted:
        _check_task_id(task_id)
    if wanted:
        by_id = {row.name: row for row in rows}
        missing = [t for t in wanted if t not in by_id]
        if missing:
            raise InvalidConversionTaskId(f"The import task ID '{missing[0]}' does not exist")
        rows = [by_id[t] for t in dict.fromkeys(wanted)]
    test = filters.predicate(params.get("Filters"), TASK_FILTERS)
    views = [view for view in (_view(_settled(ctx, row)) for row in rows) if test(view)]
    page, token = paging.page(ctx, "DescribeImportImageTasks", views, params)
    return {"ImportImageTasks": page, "NextToken": token}


def cancel_import_task(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    task_id = params.get("ImportTaskId")
    if not task_id:
        raise MissingParameter("The request must contain the parameter ImportTaskId")
    _check_task_id(task_id)
    dry_run(params)
    row = resources.by_arn(ctx.session, task_arn(ctx.scope, task_id))
    if row is None:
        raise InvalidConversionTaskId(f"The import task ID '{task_id}' does not exist")
    body = _settled(ctx, row)
    previous = body["Status"]
    if previous != ACTIVE:
        raise InvalidParameterValue(
            f"The import task '{task_id}' is {previous} and can no longer be canceled."
        )
    reason = params.get("CancelReason") or "User initiated task cancelation"
    _update(ctx.session, row, Status=DELETING, StatusMessage=reason[:255])
    return {"ImportTaskId": task_id, "PreviousState": previous, "State": DELETING}


def completed_task(ctx: RequestContext, task_id: str) -> Mapping[str, Any] | None:
    """The caller's import task `task_id` as DescribeImportImageTasks shows it (None if the
    account has no such task); Image Builder's ImportVmImage starts from it."""
    if not task_id.startswith(TASK_ID_PREFIX):
        return None
    row = resources.by_arn(ctx.session, task_arn(ctx.scope, task_id))
    return None if row is None else _view(_settled(ctx, row))


# -- requests ---------------------------------------------------------------------------------


def _one_container(containers: Any) -> Mapping[str, Any]:
    if not containers:
        raise MissingParameter("The request must contain the parameter DiskContainers")
    if len(containers) != 1:
        raise InvalidParameterValue(
            f"Kiln's AMIs have one disk: import one disk container, not {len(containers)} "
            "(an OVA counts as one)."
        )
    return dict(containers[0])


def disk_source(ctx: RequestContext, container: Mapping[str, Any]) -> DiskSource:
    """Where a disk container's file is, checked to exist in the object store."""
    if container.get("SnapshotId"):
        raise InvalidParameterValue("Kiln has no EBS snapshots: import a file (UserBucket or Url).")
    bucket_spec, url = container.get("UserBucket"), container.get("Url")
    try:
        if bucket_spec and url:
            raise InvalidParameterValue("Specify either UserBucket or Url for a disk, not both.")
        if url:
            bucket, key = parse_s3_uri(str(url))
        elif bucket_spec and bucket_spec.get("S3Bucket") and bucket_spec.get("S3Key"):
            bucket = check_bucket(str(bucket_spec["S3Bucket"]))
            key = check_key(str(bucket_spec["S3Key"]))
        else:
            raise MissingParameter(
                "A disk container needs UserBucket (S3Bucket and S3Key) or an s3:// Url."
            )
    except InvalidS3Uri as exc:
        raise InvalidParameterValue(
            f"Kiln imports from its object store only (s3://bucket/key): {exc}"
        ) from exc
    except ObjectStoreError as exc:
        raise InvalidParameterValue(str(exc)) from exc
    declared = _format(container.get("Format"))
    _require_object(ctx.objects, bucket, key)
    return DiskSource(bucket, key, declared)


def _format(text: Any) -> DiskFormat | None:
    if not text:
        return None
    try:
        return parse_format(str(text))
    except DiskFormatError as exc:
        raise InvalidParameterValue(f"Invalid disk format: {exc}") from exc


def _require_object(objects: Resolver | None, bucket: str, key: str) -> None:
    if objects is None:
        raise InvalidParameterValue("Kiln's object store is not set up here.")
    try:
        objects.for_bucket(bucket).head_object(bucket, key)
    except ObjectStoreError as exc:
        raise InvalidParameterValue(f"Cannot read s3://{bucket}/{key}: {exc}") from exc


def _task_tags(specs: Any) -> list[Mapping[str, Any]]:
    tags: list[Mapping[str, Any]] = []
    for spec in specs or []:
        if spec.get("ResourceType") != RESOURCE:
            raise InvalidParameterValue(
                f"'{spec.get('ResourceType')}' is not a valid taggable resource type for this "
                f"operation; use {RESOURCE}."
            )
        tags += spec.get("Tags") or []
    return tags


def _check_task_id(task_id: str) -> None:
    if not task_id.startswith(TASK_ID_PREFIX):
        raise InvalidConversionTaskIdMalformed(
            f"The import task ID '{task_id}' is malformed (expecting \"{TASK_ID_PREFIX}...\")"
        )


def _snapshot_detail(
    container: Mapping[str, Any], source: DiskSource, status: str
) -> dict[str, Any]:
    detail = {
        "Description": container.get("Description"),
        "DeviceName": container.get("DeviceName") or "/dev/sda1",
        "Format": source.declared.value.upper() if source.declared else None,
        "Status": status,
        "UserBucket": {"S3Bucket": source.bucket, "S3Key": source.key},
    }
    return {k: v for k, v in detail.items() if v is not None}


# -- task rows --------------------------------------------------------------------------------


def _view(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != PRIVATE and v is not None}


def _settled(ctx: RequestContext, row: ResourceRow) -> dict[str, Any]:
    """The task's body; a task whose Kiln process died is ended `deleted` first."""
    body = dict(row.body)
    owner = (body.get(PRIVATE) or {}).get("owner")
    if body.get("Status") in (ACTIVE, DELETING) and is_dead(owner):
        _update(
            ctx.session,
            row,
            Status=DELETED,
            StatusMessage="ServerError: Kiln stopped during the import; import the disk again",
            Progress=None,
        )
        body = dict(row.body)
    return body


def _update(session: Any, row: ResourceRow, **members: Any) -> None:
    body = {**row.body, **members}
    if "Status" in members and body.get("SnapshotDetails"):
        body["SnapshotDetails"] = [
            {**detail, "Status": members["Status"]} for detail in body["SnapshotDetails"]
        ]
    row.body = {k: v for k, v in body.items() if v is not None}
    row.status = str(row.body.get("Status"))
    row.updated_at = utcnow()
    session.flush()


@dataclass(frozen=True)
class _TaskMoves:
    """How an import shows on its task's row (kiln.amis.importer.StatusMoves)."""

    arn: str
    scope: Scope

    def stage(self, session: Session, message: str, percent: int) -> None:
        row = resources.by_arn(session, self.arn)
        if row is not None and row.body.get("Status") == ACTIVE:
            _update(session, row, StatusMessage=message, Progress=str(percent))

    def fail(self, session: Session, failure: Failure) -> None:
        if failure.refused:
            message = f"ClientError: {failure.error}"
        else:
            message = f"ServerError: the disk could not be converted ({failure.error})"
        row = resources.by_arn(session, self.arn)
        if row is not None:
            _update(session, row, Status=DELETED, StatusMessage=message[:1024], Progress=None)

    def complete(self, session: Session, imported: Imported) -> bool:
        row = resources.by_arn(session, self.arn)
        if row is None or row.body.get("Status") != ACTIVE:
            if row is not None:  # canceled: the task ends deleted, without an AMI
                _update(session, row, Status=DELETED, Progress=None)
            return False
        task_id = row.name
        fmt = imported.info.format
        registry.register(
            session,
            ami_id=imported.ami_id,
            account=self.scope.account,
            region=self.scope.region,
            name=task_id,
            description=row.body.get("Description") or f"Imported by Kiln ({task_id})",
            disk=imported.disk,
            size=imported.size,
            now=utcnow(),
            manifest={"importTaskId": task_id, "sourceFormat": fmt.value},
        )
        details = [
            {
                **d,
                "Format": d.get("Format") or fmt.value.upper(),
                "DiskImageSize": float(imported.info.virtual_size),
            }
            for d in row.body.get("SnapshotDetails") or []
        ]
        _update(
            session,
            row,
            Status=COMPLETED,
            StatusMessage=None,
            Progress=None,
            ImageId=imported.ami_id,
            SnapshotDetails=details,
        )
        return True
