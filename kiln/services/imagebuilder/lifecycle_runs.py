"""Lifecycle executions: running lifecycle policies, StartResourceStateUpdate, and reading and
cancelling the executions.

An execution is `lce-<uuid>`. A policy run and an immediate state update run inside the
request's (or the scheduler's) transaction: PENDING → IN_PROGRESS → SUCCESS | FAILED (FAILED
when an image could not be acted on; the others still are). A state update with a future
`updateAt` stays PENDING until `run_due` runs it, or CancelLifecycleExecution cancels it.
Enabled policies run once a day (`due_lifecycle_policies`, `run_due`).

An execution FAILS when an image, or one of the AMIs it acts on, could not be acted on. AMI disk
files a DELETE frees are removed after the transaction commits through `images` (the request's
image stores; the scheduler's caller passes its own); without it they stay on disk.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kiln.amis.stores import ImageStores
from kiln.core.arn import ArnError, parse_imagebuilder_arn
from kiln.core.clock import as_utc
from kiln.core.ids import prefixed_uuid
from kiln.engine.status import IN_PROGRESS, status_of
from kiln.services.context import RequestContext
from kiln.services.ec2.ami_access import known_image_stores
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.lifecycle_amis import actor
from kiln.services.imagebuilder.lifecycle_apply import (
    FAILED,
    SKIPPED,
    SUCCESS,
    act,
    act_on_leftover,
    finish_resource,
    record_resource,
)
from kiln.services.imagebuilder.lifecycle_leftovers import Leftover
from kiln.services.imagebuilder.lifecycle_select import ACTION_TARGET, excluded, impacts
from kiln.services.imagebuilder.passrole import require_execution_role
from kiln.store import iam as iam_store
from kiln.store import resources
from kiln.store.lifecycle_schema import LifecycleExecutionRow, LifecycleResourceRow
from kiln.store.schema import ResourceRow

PENDING = "PENDING"
RUNNING = "IN_PROGRESS"
CANCELLED = "CANCELLED"
UNFINISHED = (PENDING, RUNNING)
POLICY = "lifecycle-policy"
RUN_EVERY = dt.timedelta(days=1)
_ACTION_OF_STATE = {
    "AVAILABLE": "AVAILABLE",
    "DEPRECATED": "DEPRECATE",
    "DISABLED": "DISABLE",
    "DELETED": "DELETE",
}


# ---------------------------------------------------------------- operations


def start_resource_state_update(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = versions.parse(params["resourceArn"], "image", member="resourceArn")
    row = versions.resolve(ctx, arn)
    if row.owner != ctx.account:
        raise InvalidParameterValueException(
            f"The image '{row.arn}' is not owned by account {ctx.account}: its state cannot change."
        )
    wanted = (params.get("state") or {}).get("status")
    if wanted not in _ACTION_OF_STATE:
        raise InvalidParameterValueException(
            "The value supplied for parameter 'state' is not valid. 'state.status' must be one "
            "of AVAILABLE, DEPRECATED, DISABLED, DELETED."
        )
    include = params.get("includeResources") or {}
    rules = params.get("exclusionRules") or {}
    _check_update(row, _ACTION_OF_STATE[wanted], include, rules)
    if params.get("executionRole"):
        require_execution_role(ctx, params["executionRole"], member="executionRole")
    current = status_of(row)
    if current in IN_PROGRESS:
        raise ResourceInUseException(f"The image '{row.arn}' is being built ({current}).")
    if _unfinished_for(ctx.session, row.arn):
        raise ResourceInUseException(
            f"A lifecycle execution for '{row.arn}' is already pending or in progress."
        )
    update_at = params.get("updateAt")
    execution = _new_execution(
        ctx.session,
        account=ctx.account,
        region=ctx.region,
        policy_arn=None,
        resource_arn=row.arn,
        request={
            "state": wanted,
            "includeResources": include,
            "exclusionRules": rules,
            "executionRole": params.get("executionRole"),
        },
        update_at=update_at,
        now=ctx.now,
    )
    if update_at is None or update_at <= ctx.now:
        stores = known_image_stores(ctx)
        run_state_update(ctx.session, execution, now=ctx.now, images=stores)
    return {"lifecycleExecutionId": execution.id, "resourceArn": row.arn}


def get_lifecycle_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"lifecycleExecution": _view(_find(ctx, params["lifecycleExecutionId"]))}


def list_lifecycle_executions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["resourceArn"]
    try:
        parsed = parse_imagebuilder_arn(arn)
    except ArnError as exc:
        raise InvalidParameterValueException(
            f"The value supplied for parameter 'resourceArn' is not valid. {exc}"
        ) from exc
    query = select(LifecycleExecutionRow).where(
        LifecycleExecutionRow.account == ctx.account, LifecycleExecutionRow.region == ctx.region
    )
    if parsed.resource_type == POLICY:
        query = query.where(LifecycleExecutionRow.policy_arn == arn)
    else:
        touched = select(LifecycleResourceRow.execution_id).where(
            LifecycleResourceRow.resource_id == arn
        )
        query = query.where(
            or_(LifecycleExecutionRow.resource_arn == arn, LifecycleExecutionRow.id.in_(touched))
        )
    rows = ctx.session.scalars(query.order_by(LifecycleExecutionRow.created_at.desc()))
    page, token = ctx.tokens.page(
        "ListLifecycleExecutions",
        [_view(row) for row in rows],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {"lifecycleExecutions": page, "nextToken": token}


def list_lifecycle_execution_resources(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    execution = _find(ctx, params["lifecycleExecutionId"])
    parent = params.get("parentResourceId")
    query = select(LifecycleResourceRow).where(LifecycleResourceRow.execution_id == execution.id)
    query = query.where(
        LifecycleResourceRow.parent_id == parent
        if parent
        else LifecycleResourceRow.parent_id.is_(None)
    )
    rows = ctx.session.scalars(query.order_by(LifecycleResourceRow.id))
    page, token = ctx.tokens.page(
        "ListLifecycleExecutionResources",
        [_resource_view(row) for row in rows],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {
        "lifecycleExecutionId": execution.id,
        "lifecycleExecutionState": _state(execution),
        "resources": page,
        "nextToken": token,
    }


def cancel_lifecycle_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    execution = _find(ctx, params["lifecycleExecutionId"])
    if execution.status not in UNFINISHED:
        raise InvalidRequestException(
            f"The lifecycle execution '{execution.id}' is {execution.status} and cannot be "
            "cancelled."
        )
    execution.status = CANCELLED
    execution.reason = f"Cancelled by {ctx.caller.arn}."
    execution.end_time = ctx.now
    return {"lifecycleExecutionId": execution.id}


# ---------------------------------------------------------------- running


def run_lifecycle_policy(
    session: Session,
    policy_row: ResourceRow,
    *,
    now: dt.datetime,
    images: ImageStores | None = None,
) -> str:
    """Run a lifecycle policy now; returns the execution id."""
    execution = _new_execution(
        session,
        account=policy_row.account,
        region=policy_row.region,
        policy_arn=policy_row.arn,
        resource_arn=None,
        request={},
        update_at=None,
        now=now,
    )
    _start(execution, now)
    policy = policy_row.body
    policy_row.body = {**policy, "dateLastRun": now.timestamp()}
    role = str(policy.get("executionRole", ""))
    if not _role_exists(session, policy_row.account, role):
        return _finish(execution, FAILED, f"The execution role '{role}' does not exist.", now)
    who = actor(session, policy_row.account, role, images)
    for impact in impacts(
        session, policy, account=policy_row.account, region=policy_row.region, now=now
    ):
        if isinstance(impact.subject, Leftover):
            act_on_leftover(
                session, execution, impact.subject, action=impact.action,
                include=impact.include, reason=impact.reason, who=who, now=now,
            )  # fmt: skip
        else:
            act(
                session, execution, impact.subject, action=impact.action,
                include=impact.include, reason=impact.reason, who=who, now=now,
            )  # fmt: skip
    return _conclude(session, execution, now)


def run_state_update(
    session: Session,
    execution: LifecycleExecutionRow,
    *,
    now: dt.datetime,
    images: ImageStores | None = None,
) -> str:
    """Run a StartResourceStateUpdate execution; returns its id."""
    _start(execution, now)
    request = execution.request
    action = _ACTION_OF_STATE[str(request["state"])]
    row = resources.by_arn(session, str(execution.resource_arn))
    if row is None:
        return _finish(
            execution, FAILED, f"The image '{execution.resource_arn}' no longer exists.", now
        )
    reason = f"StartResourceStateUpdate to {request['state']}"
    skip = None
    if status_of(row) is ACTION_TARGET[action]:
        skip = f"The image is already {request['state']}."
    else:
        skip = excluded(row, {"amis": (request.get("exclusionRules") or {}).get("amis")}, now)
    if skip:
        record = record_resource(session, execution, row, action=action, reason=reason, now=now)
        finish_resource(record, SKIPPED, skip, now=now)
    else:
        include = request.get("includeResources") or {}
        who = actor(session, execution.account, request.get("executionRole"), images)
        act(
            session, execution, row, action=action, include=include, reason=reason, who=who,
            now=now,
        )  # fmt: skip
    return _conclude(session, execution, now)


def due_lifecycle_policies(session: Session, now: dt.datetime) -> list[ResourceRow]:
    """Enabled policies that have not run for a day (the daily schedule)."""
    rows = session.scalars(
        select(ResourceRow)
        .where(ResourceRow.resource_type == POLICY, ResourceRow.status == "ENABLED")
        .order_by(ResourceRow.id)
    )
    due = []
    for row in rows:
        last = row.body.get("dateLastRun")
        if last is None or now - dt.datetime.fromtimestamp(float(last), dt.UTC) >= RUN_EVERY:
            due.append(row)
    return due


def run_due(session: Session, now: dt.datetime, *, images: ImageStores | None = None) -> list[str]:
    """What the scheduler calls: run the due policies and the state updates whose time came."""
    done = [
        run_lifecycle_policy(session, row, now=now, images=images)
        for row in due_lifecycle_policies(session, now)
    ]
    scheduled = session.scalars(
        select(LifecycleExecutionRow)
        .where(LifecycleExecutionRow.status == PENDING, LifecycleExecutionRow.update_at <= now)
        .order_by(LifecycleExecutionRow.update_at)
    )
    done += [
        run_state_update(session, execution, now=now, images=images)
        for execution in list(scheduled)
    ]
    return done


# ---------------------------------------------------------------- helpers


def _check_update(
    row: ResourceRow, action: str, include: dict[str, Any], rules: dict[str, Any]
) -> None:
    """The rules CreateLifecyclePolicy applies to a rule, for one image."""
    container = row.body.get("type") == "DOCKER"
    fits = {"containers"} if container else {"amis", "snapshots"}
    chosen = {kind for kind, on in include.items() if on}
    problems = [
        f"includeResources.{kind} does not apply to a {'container' if container else 'AMI'} image"
        for kind in sorted(chosen - fits)
    ]
    if "snapshots" in chosen and action != "DELETE":
        problems.append("includeResources.snapshots applies to the DELETED state only")
    if "snapshots" in chosen and "amis" not in chosen:
        problems.append("includeResources.snapshots needs amis as well")
    if "containers" in chosen and action != "DELETE":
        problems.append("includeResources.containers applies to the DELETED state only")
    if rules.get("amis") and container:
        problems.append("exclusionRules.amis applies to AMI images only")
    if problems:
        raise InvalidParameterValueException(
            "The resource state update is not valid: " + "; ".join(problems) + "."
        )


def _unfinished_for(session: Session, image_arn: str) -> bool:
    query = select(LifecycleExecutionRow.id).where(
        LifecycleExecutionRow.resource_arn == image_arn,
        LifecycleExecutionRow.status.in_(UNFINISHED),
    )
    return session.scalars(query).first() is not None


def _role_exists(session: Session, account: str, role: str) -> bool:
    name = role.rsplit("/", 1)[-1]
    if role.startswith("arn:") and role.split(":")[4] != account:
        return False
    return iam_store.entity(session, account=account, kind=iam_store.ROLE, name=name) is not None


def _new_execution(
    session: Session,
    *,
    account: str,
    region: str,
    policy_arn: str | None,
    resource_arn: str | None,
    request: dict[str, Any],
    update_at: dt.datetime | None,
    now: dt.datetime,
) -> LifecycleExecutionRow:
    execution = LifecycleExecutionRow(
        id=prefixed_uuid("lce"),
        account=account,
        region=region,
        policy_arn=policy_arn,
        resource_arn=resource_arn,
        status=PENDING,
        has_impacted=False,
        request=request,
        update_at=update_at,
        created_at=now,
    )
    session.add(execution)
    session.flush()
    return execution


def _start(execution: LifecycleExecutionRow, now: dt.datetime) -> None:
    execution.status = RUNNING
    execution.start_time = now


def _conclude(session: Session, execution: LifecycleExecutionRow, now: dt.datetime) -> str:
    rows = session.execute(
        select(LifecycleResourceRow.status, LifecycleResourceRow.parent_id).where(
            LifecycleResourceRow.execution_id == execution.id
        )
    ).all()
    images = [status for status, parent in rows if parent is None]
    amis = [status for status, parent in rows if parent is not None]
    execution.has_impacted = SUCCESS in images
    problems = []
    if images.count(FAILED):
        problems.append(f"{images.count(FAILED)} of {len(images)} images failed")
    if amis.count(FAILED):
        problems.append(f"{amis.count(FAILED)} of {len(amis)} AMIs failed")
    if problems:
        return _finish(execution, FAILED, "; ".join(problems) + ".", now)
    return _finish(execution, SUCCESS, None, now)


def _finish(
    execution: LifecycleExecutionRow, outcome: str, reason: str | None, now: dt.datetime
) -> str:
    execution.status = outcome
    execution.reason = reason
    execution.end_time = now
    return execution.id


def _find(ctx: RequestContext, execution_id: str) -> LifecycleExecutionRow:
    row = ctx.session.get(LifecycleExecutionRow, execution_id)
    if row is None or row.account != ctx.account or row.region != ctx.region:
        raise ResourceNotFoundException(f"The lifecycle execution '{execution_id}' does not exist.")
    return row


def _state(execution: LifecycleExecutionRow) -> dict[str, Any]:
    state = {"status": execution.status, "reason": execution.reason}
    return {k: v for k, v in state.items() if v}


def _view(execution: LifecycleExecutionRow) -> dict[str, Any]:
    view = {
        "lifecycleExecutionId": execution.id,
        "lifecyclePolicyArn": execution.policy_arn,
        "resourcesImpactedSummary": {"hasImpactedResources": execution.has_impacted},
        "state": _state(execution),
        "startTime": _utc(execution.start_time or execution.created_at),
        "endTime": _utc(execution.end_time),
    }
    return {k: v for k, v in view.items() if v is not None}


def _resource_view(row: LifecycleResourceRow) -> dict[str, Any]:
    view = {
        "accountId": row.account,
        "resourceId": row.resource_id,
        "state": {k: v for k, v in {"status": row.status, "reason": row.reason}.items() if v},
        "action": {k: v for k, v in {"name": row.action, "reason": row.action_reason}.items() if v},
        "region": row.region,
        "imageUris": row.image_uris or None,
        "startTime": _utc(row.start_time),
        "endTime": _utc(row.end_time),
    }
    return {k: v for k, v in view.items() if v is not None}


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else as_utc(moment)
