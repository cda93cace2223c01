"""The engine tests' Kiln serving the build operations (no executor: scheduled builds stay
queued, which is all the scheduler decides), and a scheduler on the same data directory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.scheduler import PipelineScheduler
from tests.unit.engine.conftest import ib  # noqa: F401 - the fixture, shared with the engine


def at(text: str) -> dt.datetime:
    """A UTC instant: at('2027-03-27 08:00:30')."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def new_scheduler(kiln: Kiln) -> Any:
    """A PipelineScheduler over the test Kiln (a new one is what a restart makes)."""

    def make() -> PipelineScheduler:
        return PipelineScheduler(kiln.database, kiln.tokens, kiln.data_dir)

    return make
