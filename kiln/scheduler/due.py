"""When a pipeline's schedule fires: the first fire time in a window, in the schedule's zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiln.core.clock import as_utc
from kiln.core.cron import parse_schedule
from kiln.services.imagebuilder.pipeline_schedule import DEFAULT_TIMEZONE


def parse_aws_time(text: str) -> dt.datetime:
    """An ISO 8601 time as Kiln stores it (`...Z` or with an offset), aware."""
    return as_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def next_fire(body: dict[str, Any], *, since: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The schedule's first fire time after `since` (or after dateLastRun, when later) that is
    not after `now`; None when the pipeline is disabled, unscheduled or not due."""
    schedule = body.get("schedule") or {}
    expression = schedule.get("scheduleExpression")
    if body.get("status") != "ENABLED" or not expression:
        return None
    after = since
    last = body.get("dateLastRun")
    if last:
        after = max(after, parse_aws_time(str(last)))
    zone = schedule.get("timezone") or DEFAULT_TIMEZONE
    fire = parse_schedule(expression).next_after(after, zone)
    if fire is None or fire > now:
        return None
    return fire.astimezone(dt.UTC)
