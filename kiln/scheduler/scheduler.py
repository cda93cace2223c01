"""PipelineScheduler: once a minute, start the ENABLED pipelines whose schedule fired.

    scheduler = PipelineScheduler(database, tokens, data_dir, on_started=executor.notify)
    scheduler.start()     # a daemon thread calling tick() just after every minute
    ...
    scheduler.stop()

`tick(now)` is the whole job, and tests call it with their own clock. Each due pipeline is
handled in its own transaction: its row is read again there, so two Kilns on one database (or
a tick racing a restart) see the dateLastRun the other wrote and do not start it twice. A
pipeline is started through `builds.start_image_pipeline_execution`, exactly as the API
starts it, then marked SCHEDULED, and its dateLastRun / lastRunStatus are recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.amis.stores import ImageStores
from kiln.core.arn import Arn
from kiln.core.clock import utcnow
from kiln.core.errors import KilnError
from kiln.core.pagination import PageTokens
from kiln.engine import status
from kiln.scheduler.checkpoint import Checkpoint
from kiln.scheduler.dependencies import update_reason
from kiln.scheduler.due import next_fire
from kiln.services.context import Caller, RequestContext
from kiln.services.imagebuilder import builds, lifecycle_runs
from kiln.services.imagebuilder.pipeline_schedule import DEFAULT_START_CONDITION, record_run
from kiln.store import resources
from kiln.store.database import Database
from kiln.store.schema import ResourceRow

logger = logging.getLogger(__name__)

PIPELINE = "image-pipeline"
EXPRESSION_MATCH_ONLY = "EXPRESSION_MATCH_ONLY"
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class ScheduledRun:
    """What one tick did with one due pipeline: started an image, or skipped (and why)."""

    pipeline_arn: str
    fire_time: dt.datetime
    image_arn: str | None
    reason: str


class PipelineScheduler:
    def __init__(
        self,
        database: Database,
        tokens: PageTokens,
        data_dir: Path,
        *,
        clock: Clock = utcnow,
        on_started: Callable[[], None] | None = None,
        images: ImageStores | None = None,
    ) -> None:
        self.database = database
        self.images = images
        """Where a lifecycle DELETE removes AMI disks from; None: they stay."""
        self.tokens = tokens
        self.checkpoint = Checkpoint(data_dir)
        self.clock = clock
        self.on_started = on_started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PipelineScheduler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="kiln-scheduler", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the thread must outlive one bad tick; the next one retries
                logger.exception("pipeline schedules could not be checked")
            now = self.clock()
            next_minute = now.replace(second=1, microsecond=0) + dt.timedelta(minutes=1)
            self._stop.wait(max((next_minute - now).total_seconds(), 1.0))

    # -- the job -----------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> list[ScheduledRun]:
        """Start every pipeline whose schedule fired since the last tick; returns what it did."""
        now = now or self.clock()
        since = self.checkpoint.read()
        if since is None:  # the first start on this data directory: nothing is overdue
            self.checkpoint.write(now)
            return []
        if now <= since:
            return []
        done = []
        for arn in self._scheduled_pipelines():
            try:
                run = self._consider(arn, since=since, now=now)
            except KilnError as exc:
                logger.warning("scheduled run of %s could not start: %s", arn, exc)
                run = ScheduledRun(arn, now, None, f"could not start: {exc}")
            if run is not None:
                logger.info("schedule of %s: %s", arn, run.reason)
                done.append(run)
        self.checkpoint.write(now)
        self._run_lifecycle_policies(now)
        if self.on_started is not None and any(run.image_arn for run in done):
            self.on_started()
        return done

    def _run_lifecycle_policies(self, now: dt.datetime) -> None:
        """Lifecycle policies run daily, and scheduled state updates when they fall due."""
        try:
            with self.database.transaction() as session:
                lifecycle_runs.run_due(session, now, images=self.images)
        except KilnError as exc:
            logger.warning("lifecycle policies could not run: %s", exc)

    def _scheduled_pipelines(self) -> list[str]:
        with self.database.transaction() as session:
            rows = session.scalars(
                select(ResourceRow).where(
                    ResourceRow.resource_type == PIPELINE, ResourceRow.status == "ENABLED"
                )
            )
            return [row.arn for row in rows if (row.body.get("schedule") or {})]

    def _consider(self, arn: str, *, since: dt.datetime, now: dt.datetime) -> ScheduledRun | None:
        with self.database.transaction() as session:
            row = session.scalars(
                select(ResourceRow).where(ResourceRow.arn == arn).with_for_update()
            ).first()  # PostgreSQL: a second Kiln on this database waits, then sees dateLastRun
            if row is None:
                return None
            fire = next_fire(row.body, since=since, now=now)
            if fire is None:
                return None
            ctx = self._context(session, row, now)
            condition = row.body["schedule"].get("pipelineExecutionStartCondition")
            if (condition or DEFAULT_START_CONDITION) != EXPRESSION_MATCH_ONLY:
                reason = update_reason(ctx, row)
                if reason is None:
                    return ScheduledRun(arn, fire, None, "skipped: no dependency updates")
            else:
                reason = "the schedule matched"
            started = builds.start_image_pipeline_execution(ctx, {"imagePipelineArn": arn})
            image_arn = str(started["imageBuildVersionArn"])
            image = resources.by_arn(session, image_arn)
            assert image is not None
            status.set_body(session, image, buildType="SCHEDULED")
            record_run(row, at=now, status=status.ImageStatus.PENDING.value)
            return ScheduledRun(arn, fire, image_arn, f"started {image_arn}: {reason}")

    def _context(self, session: Session, row: ResourceRow, now: dt.datetime) -> RequestContext:
        root = Arn("aws", "iam", "", row.account, "root")
        return RequestContext(
            caller=Caller(account=row.account, arn=str(root)),
            region=row.region,
            request_id=str(uuid.uuid4()),
            session=session,
            now=now,
            tokens=self.tokens,
            operation="StartImagePipelineExecution",
        )
