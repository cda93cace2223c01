"""Work items: enqueue (in the caller's transaction), claim with a lease, heartbeat, finish.

A claim is one atomic ``UPDATE ... WHERE id = ? AND state = 'queued'``: of two workers racing
for an item exactly one sees a row count of 1. A running item whose lease lapses belongs to a
worker that died; ``recover`` in the executor fails its image and sweeps its ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kiln.store.database import Database
from kiln.store.engine_schema import WorkItemRow


class WorkState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class WorkKind(StrEnum):
    BUILD = "build"  # run (or resume) the image's workflows


@dataclass(frozen=True)
class WorkItem:
    id: int
    kind: str
    subject: str
    attempts: int
    payload: dict[str, Any]
    lease_owner: str


def enqueue(
    session: Session,
    *,
    kind: WorkKind,
    subject: str,
    now: dt.datetime,
    payload: dict[str, Any] | None = None,
) -> int:
    row = WorkItemRow(
        kind=kind.value,
        subject=subject,
        state=WorkState.QUEUED.value,
        attempts=0,
        payload=payload or {},
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def claim(
    database: Database, *, owner: str, lease: dt.timedelta, now: dt.datetime
) -> WorkItem | None:
    """The oldest queued item, now running under `owner`'s lease; None when nothing waits."""
    with database.transaction() as session:
        candidates = session.scalars(
            select(WorkItemRow.id)
            .where(WorkItemRow.state == WorkState.QUEUED.value)
            .order_by(WorkItemRow.id)
            .limit(5)
        ).all()
        for item_id in candidates:
            claimed = session.execute(
                update(WorkItemRow)
                .where(WorkItemRow.id == item_id, WorkItemRow.state == WorkState.QUEUED.value)
                .values(
                    state=WorkState.RUNNING.value,
                    lease_owner=owner,
                    lease_expires_at=now + lease,
                    attempts=WorkItemRow.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                row = session.get(WorkItemRow, item_id, populate_existing=True)
                assert row is not None
                payload = dict(row.payload)
                return WorkItem(row.id, row.kind, row.subject, row.attempts, payload, owner)
    return None


def heartbeat(
    database: Database, item_id: int, *, owner: str, lease: dt.timedelta, now: dt.datetime
) -> bool:
    """Extend the lease; False when the item is no longer this owner's."""
    with database.transaction() as session:
        done = session.execute(
            update(WorkItemRow)
            .where(
                WorkItemRow.id == item_id,
                WorkItemRow.lease_owner == owner,
                WorkItemRow.state == WorkState.RUNNING.value,
            )
            .values(lease_expires_at=now + lease, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return getattr(done, "rowcount", 0) == 1


def finish(
    database: Database,
    item_id: int,
    *,
    owner: str,
    state: WorkState,
    now: dt.datetime,
    message: str | None = None,
) -> None:
    with database.transaction() as session:
        session.execute(
            update(WorkItemRow)
            .where(WorkItemRow.id == item_id, WorkItemRow.lease_owner == owner)
            .values(state=state.value, lease_expires_at=None, message=message, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def running(session: Session) -> list[WorkItemRow]:
    return list(
        session.scalars(select(WorkItemRow).where(WorkItemRow.state == WorkState.RUNNING.value))
    )


def pending_for(session: Session, subject: str) -> list[WorkItemRow]:
    """Queued or running items of one image."""
    return list(
        session.scalars(
            select(WorkItemRow).where(
                WorkItemRow.subject == subject,
                WorkItemRow.state.in_([WorkState.QUEUED.value, WorkState.RUNNING.value]),
            )
        )
    )
