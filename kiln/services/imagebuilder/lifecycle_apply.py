"""Acting on one image for a lifecycle execution, and recording what was done.

DEPRECATE / DISABLE / AVAILABLE change the image's status through the status machine and stamp
the image with the execution id (and a deprecationTime). DELETE moves the image to DELETED and
removes its record. When the action includes AMIs, every AMI of the image in every region and
account is deprecated, disabled, enabled or deregistered (kiln.services.imagebuilder.
lifecycle_amis), each recorded as an execution resource under the image. Container images a
DELETE includes are recorded with the DELETE action for their registry's owner to remove
(`pending_artifact_removals`, `mark_artifact_removed`).

A deleted image's leftover AMIs (kiln.services.imagebuilder.lifecycle_leftovers) are acted on by
`act_on_leftover`: the image ARN is recorded as the parent resource, the AMIs under it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.engine import status
from kiln.engine.status import IllegalTransitionError, ImageStatus
from kiln.services.imagebuilder.lifecycle_amis import Actor, act_on_amis, start_record
from kiln.services.imagebuilder.lifecycle_leftovers import Leftover
from kiln.services.imagebuilder.lifecycle_select import ACTION_TARGET
from kiln.store import resources
from kiln.store.lifecycle_schema import LifecycleExecutionRow, LifecycleResourceRow
from kiln.store.schema import ResourceRow

SUCCESS = "SUCCESS"
FAILED = "FAILED"
SKIPPED = "SKIPPED"
IMAGE = "image"
CONTAINER = "container"


def act(
    session: Session,
    execution: LifecycleExecutionRow,
    row: ResourceRow,
    *,
    action: str,
    include: Mapping[str, bool],
    reason: str | None,
    who: Actor,
    now: dt.datetime,
) -> LifecycleResourceRow:
    """Apply `action` to the image and its AMIs and record it (SUCCESS, or FAILED with the
    reason). An AMI that cannot be changed fails its own record; the image still changes."""
    record = record_resource(session, execution, row, action=action, reason=reason, now=now)
    target = ACTION_TARGET[action]
    try:
        status.check(row, target)
        users = resources.referrers(session, row.arn) if target is ImageStatus.DELETED else []
        if users:
            raise IllegalTransitionError(f"{row.arn} is used by {', '.join(users)}")
    except IllegalTransitionError as exc:
        return finish_resource(record, FAILED, str(exc), now=now)
    act_on_amis(
        session, execution, image_arn=row.arn, action=action, include=include, reason=reason,
        who=who, now=now,
    )  # fmt: skip
    _record_containers(session, execution, row, action=action, include=include, now=now)
    status.transition(session, row.arn, target, now=now)
    if target is ImageStatus.DELETED:
        resources.remove(session, row)
    else:
        _stamp(session, row, execution.id, target, include=include, now=now)
    return finish_resource(record, SUCCESS, None, now=now)


def act_on_leftover(
    session: Session,
    execution: LifecycleExecutionRow,
    leftover: Leftover,
    *,
    action: str,
    include: Mapping[str, bool],
    reason: str | None,
    who: Actor,
    now: dt.datetime,
) -> LifecycleResourceRow:
    """Apply `action` to the AMIs a deleted image left; the image ARN is their parent record."""
    record = start_record(
        session, execution, account=leftover.account, region=execution.region,
        resource_id=leftover.arn, parent_id=None, kind=IMAGE, action=action, reason=reason,
        now=now,
    )  # fmt: skip
    act_on_amis(
        session, execution, image_arn=leftover.arn, action=action, include=include,
        reason=reason, who=who, now=now,
    )  # fmt: skip
    note = "The image resource was deleted; the lifecycle action applies to its AMIs."
    return finish_resource(record, SUCCESS, note, now=now)


def record_resource(
    session: Session,
    execution: LifecycleExecutionRow,
    row: ResourceRow,
    *,
    action: str,
    reason: str | None,
    now: dt.datetime,
) -> LifecycleResourceRow:
    return start_record(
        session, execution, account=row.account, region=row.region, resource_id=row.arn,
        parent_id=None, kind=IMAGE, action=action, reason=reason, now=now,
    )  # fmt: skip


def finish_resource(
    record: LifecycleResourceRow, outcome: str, reason: str | None, *, now: dt.datetime
) -> LifecycleResourceRow:
    record.status = outcome
    record.reason = reason[:1024] if reason else None
    record.end_time = now
    return record


def _record_containers(
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
    """Container images a lifecycle DELETE marked, not yet removed by their owner (AMIs are
    deregistered by the execution itself)."""
    query = (
        select(LifecycleResourceRow)
        .where(
            LifecycleResourceRow.action == "DELETE",
            LifecycleResourceRow.kind == CONTAINER,
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
