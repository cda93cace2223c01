"""The ledger: every resource a build creates is written here before it is created, and marked
released once removed, so a later process can sweep what a crashed or cancelled build left.

Kinds: ``container`` (ref = a `key=value` annotation selecting the build's instances),
``image`` (a local image name), ``file`` / ``dir`` (host paths), ``mount``, ``vm``.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.core.clock import utcnow
from kiln.store.database import Database
from kiln.store.engine_schema import LedgerRow

logger = logging.getLogger(__name__)


class LedgerKind(StrEnum):
    CONTAINER = "container"
    IMAGE = "image"
    FILE = "file"
    DIR = "dir"
    MOUNT = "mount"
    VM = "vm"


Remover = Callable[[str], None]
"""Removes one resource by its ledger ref; idempotent."""


def record(database: Database, image_arn: str, kind: LedgerKind, ref: str) -> int:
    """Write the entry in its own committed transaction, before the resource exists."""
    with database.transaction() as session:
        row = LedgerRow(image_arn=image_arn, kind=kind.value, ref=ref, created_at=utcnow())
        session.add(row)
        session.flush()
        return row.id


def release(database: Database, entry_id: int) -> None:
    with database.transaction() as session:
        row = session.get(LedgerRow, entry_id)
        if row is not None and row.released_at is None:
            row.released_at = utcnow()


def outstanding(session: Session, image_arn: str | None = None) -> list[LedgerRow]:
    query = select(LedgerRow).where(LedgerRow.released_at.is_(None))
    if image_arn is not None:
        query = query.where(LedgerRow.image_arn == image_arn)
    return list(session.scalars(query.order_by(LedgerRow.id.desc())))


def remove_path(ref: str) -> None:
    path = Path(ref)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep(
    database: Database,
    image_arn: str,
    removers: Mapping[LedgerKind, Remover],
    *,
    now: dt.datetime | None = None,
) -> list[str]:
    """Remove every outstanding resource of a build, newest first; returns what was removed.

    An entry whose removal fails stays outstanding (logged) for the next sweep.
    """
    with database.transaction() as session:
        rows = outstanding(session, image_arn)
        entries = [(row.id, LedgerKind(row.kind), row.ref) for row in rows]
    removed = []
    for entry_id, kind, ref in entries:
        remover = removers.get(kind)
        if remover is None:
            logger.warning("no remover for ledger entry %s %s of %s", kind, ref, image_arn)
            continue
        try:
            remover(ref)
        except Exception:  # the sweep goes on; the entry stays for the next one
            logger.exception("could not remove %s %s of %s", kind, ref, image_arn)
            continue
        with database.transaction() as session:
            row = session.get(LedgerRow, entry_id)
            if row is not None:
                row.released_at = now or utcnow()
        removed.append(f"{kind}:{ref}")
    return removed
