"""Workflow and step execution records: written as the engine runs, read by the API.

Statuses are the AWS enums. A WaitForAction step that is waiting is RUNNING with no outputs;
SendWorkflowStepAction writes its `action`/`reason` into the outputs and re-queues the build.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.core.clock import aws_datetime
from kiln.core.ids import prefixed_uuid
from kiln.store.engine_schema import StepExecutionRow, WorkflowExecutionRow


class ExecutionStatus(StrEnum):
    PENDING = "PENDING"
    SKIPPED = "SKIPPED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_COMPLETED = "ROLLBACK_COMPLETED"
    CANCELLED = "CANCELLED"


class StepStatus(StrEnum):
    PENDING = "PENDING"
    SKIPPED = "SKIPPED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class RollbackStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


WAIT_ACTION = "WaitForAction"


def new_execution(
    session: Session,
    *,
    account: str,
    region: str,
    image_arn: str,
    workflow_arn: str,
    position: int,
    workflow_type: str,
    total_steps: int,
    parallel_group: str | None,
    now: dt.datetime,
) -> WorkflowExecutionRow:
    row = WorkflowExecutionRow(
        id=prefixed_uuid("wf"),
        account=account,
        region=region,
        image_arn=image_arn,
        workflow_arn=workflow_arn,
        position=position,
        type=workflow_type,
        status=ExecutionStatus.RUNNING.value,
        parallel_group=parallel_group,
        total_steps=total_steps,
        steps_succeeded=0,
        steps_failed=0,
        steps_skipped=0,
        start_time=now,
    )
    session.add(row)
    session.flush()
    return row


def executions_of(session: Session, image_arn: str) -> list[WorkflowExecutionRow]:
    query = select(WorkflowExecutionRow).where(WorkflowExecutionRow.image_arn == image_arn)
    return list(session.scalars(query.order_by(WorkflowExecutionRow.position)))


def steps_of(session: Session, execution_id: str) -> list[StepExecutionRow]:
    query = select(StepExecutionRow).where(StepExecutionRow.execution_id == execution_id)
    return list(session.scalars(query.order_by(StepExecutionRow.position)))


def created_ami(session: Session, image_arn: str) -> str | None:
    """The AMI the image's build workflow made (its completed CreateImage step's imageId)."""
    for execution in executions_of(session, image_arn):
        if execution.type != "BUILD":
            continue
        for row in steps_of(session, execution.id):
            if row.action == "CreateImage" and row.status == StepStatus.COMPLETED:
                image = loads(row.outputs).get("imageId")
                if image:
                    return str(image)
    return None


def waiting_steps(session: Session, account: str) -> list[StepExecutionRow]:
    query = select(StepExecutionRow).where(
        StepExecutionRow.account == account,
        StepExecutionRow.action == WAIT_ACTION,
        StepExecutionRow.status == StepStatus.RUNNING.value,
        StepExecutionRow.outputs.is_(None),
    )
    return list(session.scalars(query.order_by(StepExecutionRow.start_time)))


def recount(session: Session, execution: WorkflowExecutionRow) -> None:
    steps = steps_of(session, execution.id)
    execution.steps_succeeded = sum(s.status == StepStatus.COMPLETED for s in steps)
    execution.steps_failed = sum(s.status == StepStatus.FAILED for s in steps)
    execution.steps_skipped = sum(s.status == StepStatus.SKIPPED for s in steps)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _when(moment: dt.datetime | None) -> str | None:
    return aws_datetime(moment) if moment is not None else None


def execution_view(row: WorkflowExecutionRow) -> dict[str, Any]:
    """The WorkflowExecutionMetadata shape (GetWorkflowExecution adds imageBuildVersionArn)."""
    view = {
        "workflowBuildVersionArn": row.workflow_arn,
        "workflowExecutionId": row.id,
        "type": row.type,
        "status": row.status,
        "message": row.message,
        "totalStepCount": row.total_steps,
        "totalStepsSucceeded": row.steps_succeeded,
        "totalStepsFailed": row.steps_failed,
        "totalStepsSkipped": row.steps_skipped,
        "startTime": _when(row.start_time),
        "endTime": _when(row.end_time),
        "parallelGroup": row.parallel_group,
    }
    return {k: v for k, v in view.items() if v is not None}


def step_view(row: StepExecutionRow) -> dict[str, Any]:
    """The WorkflowStepMetadata shape (GetWorkflowStepExecution adds the ARNs)."""
    view = {
        "stepExecutionId": row.id,
        "name": row.name,
        "description": row.description,
        "action": row.action,
        "status": row.status,
        "rollbackStatus": row.rollback_status,
        "message": row.message,
        "inputs": row.inputs,
        "outputs": row.outputs,
        "startTime": _when(row.start_time),
        "endTime": _when(row.end_time),
    }
    return {k: v for k, v in view.items() if v is not None}
