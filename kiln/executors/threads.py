"""ThreadExecutor: N worker threads claim queued work items under a lease and run them.

    executor = ThreadExecutor(database, host, config, workers=2)
    executor.start()      # recover() first: interrupted builds are failed and swept
    ...
    executor.stop()

Each claimed item gets a heartbeat that extends its lease while the work runs. On start-up,
`recover()` fails every image whose work was running under a lapsed lease or under a process
of this host that no longer exists, with the reason below, and sweeps its ledger, so nothing
stays BUILDING and nothing leaks. The executor is one of the three places that catch broadly.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from kiln.core.clock import utcnow
from kiln.engine import owners, queue
from kiln.engine.build import BuildOutcome, fail_interrupted, open_run, run_build
from kiln.engine.context import EngineConfig
from kiln.engine.host import BuildHost
from kiln.engine.plan import BuildPlan
from kiln.engine.queue import WorkItem, WorkState
from kiln.store.database import Database

logger = logging.getLogger(__name__)

INTERRUPTED = "Kiln stopped during the build; the build was failed and its resources removed."


class ThreadExecutor:
    def __init__(
        self,
        database: Database,
        host: BuildHost,
        config: EngineConfig,
        *,
        workers: int = 2,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        idle_wait: float = 0.5,
    ) -> None:
        self.database = database
        self.host = host
        self.config = config
        self.workers = workers
        self.lease = lease
        self.idle_wait = idle_wait
        self.owner = owners.new_owner()
        self._recovered_at = time.monotonic()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ThreadExecutor:
        self.recover()
        self._stop.clear()
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"kiln-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; wait for running work (whose leases then lapse if it does not end)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def notify(self) -> None:
        """Wake idle workers (new work was queued)."""
        self._wake.set()

    def __enter__(self) -> ThreadExecutor:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- recovery ----------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Fail and sweep the builds a stopped Kiln left running; returns their image ARNs."""
        now = utcnow()
        with self.database.transaction() as session:
            stale = [
                (row.id, row.subject, row.lease_owner or "")
                for row in queue.running(session)
                if _lapsed(row.lease_expires_at, now) or owners.is_dead(row.lease_owner)
            ]
        failed = []
        for item_id, subject, owner in stale:
            logger.warning("recovering %s (work %s of %s)", subject, item_id, owner)
            try:
                fail_interrupted(self.database, self.host, subject, INTERRUPTED)
            except Exception:
                logger.exception("could not recover %s", subject)
            queue.finish(
                self.database, item_id, owner=owner, state=WorkState.FAILED, now=utcnow(),
                message=INTERRUPTED,
            )  # fmt: skip
            failed.append(subject)
        return failed

    def _recover_now_and_then(self) -> None:
        """Builds whose owner died or whose lease lapsed while this Kiln runs are failed and
        swept too, not only at start (one worker does it, once per lease period)."""
        if threading.current_thread().name != "kiln-worker-0":
            return
        if time.monotonic() - self._recovered_at < self.lease.total_seconds():
            return
        self._recovered_at = time.monotonic()
        try:
            self.recover()
        except Exception:  # the worker must outlive a failed sweep; the next period retries
            logger.exception("periodic recovery failed")

    # -- work --------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            self._recover_now_and_then()
            item = queue.claim(self.database, owner=self.owner, lease=self.lease, now=utcnow())
            if item is None:
                self._wake.wait(self.idle_wait)
                self._wake.clear()
                continue
            self._run(item)

    def _run(self, item: WorkItem) -> None:
        beating = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(item, beating), name=f"kiln-lease-{item.id}", daemon=True
        )
        beat.start()
        state, message = WorkState.DONE, None
        try:
            plan = BuildPlan.from_payload(item.payload["plan"])
            run = open_run(self.database, self.host, self.config, item.subject, plan)
            result = run_build(run)
            message = f"{result.outcome}: {result.message or ''}".strip()
            if result.outcome is BuildOutcome.FAILED:
                state = WorkState.FAILED
        except Exception as exc:
            logger.exception("work item %s on %s failed", item.id, item.subject)
            state, message = WorkState.FAILED, f"{type(exc).__name__}: {exc}"
            try:
                fail_interrupted(
                    self.database, self.host, item.subject,
                    f"Kiln could not run the build: {type(exc).__name__}: {exc}",
                )  # fmt: skip
            except Exception:
                logger.exception("could not fail %s", item.subject)
        finally:
            beating.set()
            beat.join()
        queue.finish(
            self.database, item.id, owner=self.owner, state=state, now=utcnow(), message=message
        )

    def _heartbeat(self, item: WorkItem, stop: threading.Event) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not stop.wait(interval):
            try:
                queue.heartbeat(
                    self.database, item.id, owner=self.owner, lease=self.lease, now=utcnow()
                )
            except Exception:
                logger.exception("heartbeat of work item %s failed", item.id)


def _lapsed(expires: dt.datetime | None, now: dt.datetime) -> bool:
    if expires is None:
        return True
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    return expires < now
