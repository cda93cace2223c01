"""A pipeline's schedule: checked on Create/Update, and its next run computed when read.

`dateNextRun` is not stored: it is the schedule's first fire time after both now and the last
run, so it never goes stale. The build engine calls `record_run` when a run starts or ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiln.core.clock import aws_datetime
from kiln.core.cron import parse_schedule, validate_timezone
from kiln.services.imagebuilder.errors import InvalidParameterValueException
from kiln.store.schema import ResourceRow

DEFAULT_START_CONDITION = "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE"
DEFAULT_TIMEZONE = "UTC"


def checked_schedule(schedule: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schedule to store: expression and time zone checked, start condition defaulted."""
    if not schedule:
        return None
    expression = schedule.get("scheduleExpression")
    if not expression:
        raise InvalidParameterValueException(
            "A pipeline schedule needs a scheduleExpression, such as 'cron(0 0 * * ? *)'."
        )
    parse_schedule(expression)
    if schedule.get("timezone"):
        validate_timezone(schedule["timezone"])
    return {
        **schedule,
        "pipelineExecutionStartCondition": schedule.get("pipelineExecutionStartCondition")
        or DEFAULT_START_CONDITION,
    }


def next_run(body: dict[str, Any], now: dt.datetime) -> str | None:
    """`dateNextRun` of an enabled scheduled pipeline; None otherwise."""
    schedule = body.get("schedule") or {}
    expression = schedule.get("scheduleExpression")
    if body.get("status") != "ENABLED" or not expression:
        return None
    after = now
    last = body.get("dateLastRun")
    if last:
        after = max(after, dt.datetime.fromisoformat(last.replace("Z", "+00:00")))
    fire = parse_schedule(expression).next_after(
        after, schedule.get("timezone") or DEFAULT_TIMEZONE
    )
    return aws_datetime(fire) if fire is not None else None


def record_run(row: ResourceRow, *, at: dt.datetime, status: str) -> None:
    """Note a pipeline run (the engine calls this): dateLastRun and lastRunStatus."""
    row.body = {**row.body, "dateLastRun": aws_datetime(at), "lastRunStatus": status}
    row.updated_at = at
