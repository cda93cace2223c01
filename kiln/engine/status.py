"""The image status machine as transition tables: the only way an image's status changes.

    PENDING → CREATING → BUILDING → TESTING → DISTRIBUTING → INTEGRATING → AVAILABLE
    (TESTING may be skipped, BUILDING too for DistributeImage; every non-terminal status →
    FAILED | CANCELLED)
    FAILED → PENDING (RetryImage)
    AVAILABLE | DEPRECATED | DISABLED → one another, or DELETED (lifecycle policies and
    StartResourceStateUpdate; a DELETED image's record is then removed)

Each allowed move names a guard; a move the table does not allow, or whose guard refuses,
raises IllegalTransitionError with the reason. Status lives in the image row's
``body.state`` ({status, reason}) and its indexed ``status`` column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from sqlalchemy.orm import Session

from kiln.core.errors import KilnError
from kiln.store import resources
from kiln.store.schema import ResourceRow


class ImageStatus(StrEnum):
    PENDING = "PENDING"
    CREATING = "CREATING"
    BUILDING = "BUILDING"
    TESTING = "TESTING"
    DISTRIBUTING = "DISTRIBUTING"
    INTEGRATING = "INTEGRATING"
    AVAILABLE = "AVAILABLE"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    DEPRECATED = "DEPRECATED"
    DISABLED = "DISABLED"
    DELETED = "DELETED"


IN_PROGRESS = frozenset(
    {
        ImageStatus.PENDING,
        ImageStatus.CREATING,
        ImageStatus.BUILDING,
        ImageStatus.TESTING,
        ImageStatus.DISTRIBUTING,
        ImageStatus.INTEGRATING,
    }
)


class IllegalTransitionError(KilnError):
    """A status change the table does not allow, or whose guard refuses."""


@dataclass(frozen=True)
class Move:
    """What a guard sees: the image as it is, and the reason the change is asked for."""

    row: ResourceRow
    source: ImageStatus
    target: ImageStatus
    reason: str | None


Guard = Callable[[Move], str | None]
"""Returns why the move is refused, or None to allow it."""


def always(_move: Move) -> str | None:
    return None


def reason_given(move: Move) -> str | None:
    """Failures and cancellations carry a reason for the user."""
    return None if move.reason else f"a move to {move.target} needs a reason"


def retryable(move: Move) -> str | None:
    """RetryImage: only a build that failed (not one cancelled or deleted) is retried."""
    if move.row.body.get("buildType") == "IMPORT":
        return "an imported image cannot be retried"
    return None


def nothing_to_build(move: Move) -> str | None:
    """DistributeImage: an image without a recipe goes from CREATING straight to distribution."""
    body = move.row.body
    if body.get("imageRecipe") or body.get("containerRecipe"):
        return "an image with a recipe is built before it is distributed"
    return None


_S = ImageStatus
_FORWARD: tuple[tuple[ImageStatus, ImageStatus], ...] = (
    (_S.PENDING, _S.CREATING),
    (_S.CREATING, _S.BUILDING),
    (_S.BUILDING, _S.TESTING),
    (_S.BUILDING, _S.DISTRIBUTING),
    (_S.TESTING, _S.DISTRIBUTING),
    (_S.DISTRIBUTING, _S.INTEGRATING),
    (_S.INTEGRATING, _S.AVAILABLE),
)
LIFECYCLE = frozenset({_S.AVAILABLE, _S.DEPRECATED, _S.DISABLED})
_LIFECYCLE_MOVES = tuple(
    (source, target)
    for source in LIFECYCLE
    for target in (*LIFECYCLE, _S.DELETED)
    if source is not target
)
TRANSITIONS: Mapping[tuple[ImageStatus, ImageStatus], Guard] = MappingProxyType(
    {
        **dict.fromkeys(_FORWARD, always),
        **{(source, _S.FAILED): reason_given for source in IN_PROGRESS},
        **{(source, _S.CANCELLED): reason_given for source in IN_PROGRESS},
        (_S.FAILED, _S.PENDING): retryable,
        (_S.CREATING, _S.DISTRIBUTING): nothing_to_build,
    }
)
LIFECYCLE_TRANSITIONS: Mapping[tuple[ImageStatus, ImageStatus], Guard] = MappingProxyType(
    dict.fromkeys(_LIFECYCLE_MOVES, always)
)
"""After the build: lifecycle policies and StartResourceStateUpdate (a table of its own, so
the build's table keeps AVAILABLE final)."""


def status_of(row: ResourceRow) -> ImageStatus:
    state = row.body.get("state") or {}
    return ImageStatus(str(state.get("status", "PENDING")))


def check(row: ResourceRow, target: ImageStatus, reason: str | None = None) -> Move:
    """The move, if the table allows it; IllegalTransitionError otherwise."""
    move = Move(row=row, source=status_of(row), target=target, reason=reason)
    key = (move.source, target)
    guard = TRANSITIONS.get(key) or LIFECYCLE_TRANSITIONS.get(key)
    if guard is None:
        raise IllegalTransitionError(f"{row.arn}: {move.source} cannot become {target}")
    refused = guard(move)
    if refused:
        raise IllegalTransitionError(f"{row.arn}: {move.source} → {target} refused: {refused}")
    return move


def transition(
    session: Session,
    image_arn: str,
    target: ImageStatus,
    *,
    now: dt.datetime,
    reason: str | None = None,
) -> ResourceRow:
    """Change an image's status inside the caller's transaction."""
    row = resources.by_arn(session, image_arn)
    if row is None:
        raise IllegalTransitionError(f"{image_arn}: no such image")
    check(row, target, reason)
    state: dict[str, str] = {"status": target.value}
    if reason and target in (_S.FAILED, _S.CANCELLED):
        state["reason"] = reason[:1024]
    row.body = {**row.body, "state": state}
    row.status = target.value
    row.updated_at = now
    _note_on_pipeline(session, row, target, now=now)
    session.flush()
    return row


def _note_on_pipeline(
    session: Session, image: ResourceRow, target: ImageStatus, *, now: dt.datetime
) -> None:
    """A pipeline's lastRunStatus follows the images it starts, as their status changes."""
    pipeline_arn = image.body.get("sourcePipelineArn")
    if not pipeline_arn:
        return
    pipeline = resources.by_arn(session, str(pipeline_arn))
    if pipeline is None:
        return
    pipeline.body = {**pipeline.body, "lastRunStatus": target.value}
    pipeline.updated_at = now


def set_body(session: Session, row: ResourceRow, **members: object) -> None:
    """Record build results (outputResources, osVersion...) on the image; never its state."""
    if "state" in members:
        raise IllegalTransitionError("image status changes only through transition()")
    row.body = {**row.body, **{k: v for k, v in members.items() if v is not None}}
    session.flush()
