"""The image status machine: the table allows the documented moves and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest

from kiln.app import Kiln
from kiln.engine.status import (
    IN_PROGRESS,
    TRANSITIONS,
    IllegalTransitionError,
    ImageStatus,
    set_body,
    transition,
)
from kiln.services.imagebuilder.images import record_image
from kiln.store.resources import Scope

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def _image(kiln: Kiln) -> str:
    with kiln.database.transaction() as session:
        scope = Scope(kiln.default_account, "us-east-1")
        return record_image(session, scope, body={"name": "app", "version": "1.0.0"}, now=NOW).arn


def test_the_happy_path_and_retry(kiln: Kiln) -> None:
    arn = _image(kiln)
    with kiln.database.transaction() as session:
        for target in ("CREATING", "BUILDING", "TESTING", "DISTRIBUTING", "INTEGRATING"):
            transition(session, arn, ImageStatus(target), now=NOW)
        row = transition(session, arn, ImageStatus.FAILED, now=NOW, reason="boom")
        assert row.body["state"] == {"status": "FAILED", "reason": "boom"}
        assert row.status == "FAILED"
        row = transition(session, arn, ImageStatus.PENDING, now=NOW)
        assert row.body["state"] == {"status": "PENDING"}


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ((), ImageStatus.AVAILABLE),
        ((), ImageStatus.BUILDING),
        (("CREATING", "BUILDING", "TESTING"), ImageStatus.BUILDING),
        (("CREATING",), ImageStatus.PENDING),
    ],
)
def test_moves_outside_the_table_are_refused(
    kiln: Kiln, path: tuple[str, ...], target: ImageStatus
) -> None:
    arn = _image(kiln)
    with kiln.database.transaction() as session:
        for step in path:
            transition(session, arn, ImageStatus(step), now=NOW)
        with pytest.raises(IllegalTransitionError, match="cannot become"):
            transition(session, arn, target, now=NOW)


def test_failure_and_cancellation_need_a_reason_and_are_final(kiln: Kiln) -> None:
    arn = _image(kiln)
    with kiln.database.transaction() as session:
        with pytest.raises(IllegalTransitionError, match="needs a reason"):
            transition(session, arn, ImageStatus.CANCELLED, now=NOW)
        transition(session, arn, ImageStatus.CANCELLED, now=NOW, reason="user")
        with pytest.raises(IllegalTransitionError):
            transition(session, arn, ImageStatus.PENDING, now=NOW)


def test_every_in_progress_status_can_fail_or_be_cancelled() -> None:
    for source in IN_PROGRESS:
        assert (source, ImageStatus.FAILED) in TRANSITIONS
        assert (source, ImageStatus.CANCELLED) in TRANSITIONS
    assert not [m for m in TRANSITIONS if m[0] is ImageStatus.AVAILABLE]


def test_build_results_never_carry_a_status(kiln: Kiln) -> None:
    arn = _image(kiln)
    with kiln.database.transaction() as session:
        from kiln.store import resources

        row = resources.by_arn(session, arn)
        assert row is not None
        with pytest.raises(IllegalTransitionError):
            set_body(session, row, state={"status": "AVAILABLE"})
