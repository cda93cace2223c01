"""Acting on one image for a lifecycle execution, and recording what was done.

DEPRECATE / DISABLE / AVAILABLE change the image's status through the status machine, stamp the
image with the execution id (and a deprecationTime), and, when the action includes AMIs, record
the new state on each AMI of the image's outputResources. DELETE moves the image to DELETED and
removes its record; the AMIs and container images it produced, when the action includes them,
are recorded as execution resources with the DELETE action: the artifacts' owner removes them
later (`pending_artifact_removals`, `mark_artifact_removed`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.engine import status
from kiln.engine.status import IllegalTransitionError, ImageStatus
from kiln.services.imagebuilder.lifecycle_select import ACTION_TARGET
from kiln.store import resources
from kiln.store.lifecycle_schema import LifecycleExecutionRow, LifecycleResourceRow
from kiln.store.schema import ResourceRow

SUCCESS = "SUCCESS"
FAILED = "FAILED"
SKIPPED = "SKIPPED"
IMAGE = "image"
AMI = "ami"
CONTAINER = "container"


def act(
    session: Session,
    execution: LifecycleExecutionRow,
    row: ResourceRow,
    *,
    action: str,
    include: Mapping[str, bool],
    reason: str | None,
    now: dt.datetime,
) -> LifecycleResourceRow:
    """Apply `action` to the image and record it (SUCCESS, or FAILED with the reason)."""
    record = record_resource(session, execution, row, action=action, reason=reason, now=now)
    target = ACTION_TARGET[action]
    try:
        status.check(row, target)
        users = resources.referrers(session, row.arn) if target is ImageStatus.DELETED else []
        if users:
            raise IllegalTransitionError(f"{row.arn} is used by {', '.join(users)}")
    except IllegalTransitionError as exc:
        return finish_resource(record, FAILED, str(exc), now=now)
    _record_artifacts(session, execution, row, action=action, include=include, now=now)
    status.transition(session, row.arn, target, now=now)
    if target is ImageStatus.DELETED:
        resources.remove(session, row)
    else:
        _stamp(session, row, execution.id, target, include=include, now=now)
    return finish_resource(record, SUCCESS, None, now=now)


def record_resource(
    session: Session,
    execution: LifecycleExecutionRow,
    row: ResourceRow,
    *,
    action: str,
    reason: str | None,
    now: dt.datetime,
) -> LifecycleResourceRow:
    record = LifecycleResourceRow(
        execution_id=execution.id,
        account=row.account,
        region=row.region,
        resource_id=row.arn,
        parent_id=None,
        kind=IMAGE,
        action=action,
        action_reason=reason,
        status="IN_PROGRESS",
        image_uris=[],
        start_time=now,
    )
    session.add(record)
    session.flush()
    return record


def finish_resource(
    record: LifecycleResourceRow, outcome: str, reason: str | None, *, now: dt.datetime
) -> LifecycleResourceRow:
    record.status = outcome
    record.reason = reason[:1024] if reason else None
    record.end_time = now
    return record


def _record_artifacts(
    session: Session,
    execution: LifecycleExecutionRow,
    row: ResourceRow,
    *,
    action: str,
    include: Mapping[str, bool],
    now: dt.datetime,
) -> None:
    outputs = row.body.get("outputResources") or {}
    found: list[tuple[str, str, str, list[str]]] = []
    if include.get("amis"):
        for ami in outputs.get("amis") or []:
            found.append((AMI, str(ami.get("image")), str(ami.get("region", row.region)), []))
    if include.get("containers") and action == "DELETE":
        for container in outputs.get("containers") or []:
            uris = [str(uri) for uri in container.get("imageUris") or []]
            region = str(container.get("region", row.region))
            found += [(CONTAINER, uri, region, [uri]) for uri in uris]
    for kind, resource_id, region, uris in found:
        session.add(
            LifecycleResourceRow(
                execution_id=execution.id,
                account=row.account,
                region=region,
                resource_id=resource_id,
                parent_id=row.arn,
                kind=kind,
                action=action,
                status=SUCCESS,
                image_uris=uris,
                start_time=now,
                end_time=now,
            )
        )
    session.flush()


def _stamp(
    session: Session,
    row: ResourceRow,
    execution_id: str,
    target: ImageStatus,
    *,
    include: Mapping[str, bool],
    now: dt.datetime,
) -> None:
    body: dict[str, Any] = {k: v for k, v in row.body.items() if k != "deprecationTime"}
    body["lifecycleExecutionId"] = execution_id
    if target is ImageStatus.DEPRECATED:
        body["deprecationTime"] = now.timestamp()
    outputs = body.get("outputResources") or {}
    if include.get("amis") and outputs.get("amis"):
        amis = [{**ami, "state": {"status": target.value}} for ami in outputs["amis"]]
        body["outputResources"] = {**outputs, "amis": amis}
    row.body = body
    row.updated_at = now
    session.flush()


def pending_artifact_removals(session: Session) -> list[LifecycleResourceRow]:
    """AMIs and container images a lifecycle DELETE marked, not yet removed by their owner."""
    query = (
        select(LifecycleResourceRow)
        .where(
            LifecycleResourceRow.action == "DELETE",
            LifecycleResourceRow.kind != IMAGE,
            LifecycleResourceRow.status == SUCCESS,
            LifecycleResourceRow.artifact_removed_at.is_(None),
        )
        .order_by(LifecycleResourceRow.id)
    )
    return list(session.scalars(query))


def mark_artifact_removed(session: Session, record_id: int, *, now: dt.datetime) -> None:
    """The artifact's owner removed it."""
    record = session.get(LifecycleResourceRow, record_id)
    if record is not None:
        record.artifact_removed_at = now
        session.flush()
