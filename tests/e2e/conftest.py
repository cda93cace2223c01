"""Fixtures of the end-to-end tests (helpers behind them: tests/e2e/support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.artifacts.containers import ContainerStorage
from tests.e2e.support import podman_storage, runtime_folder


@pytest.fixture(scope="module")
def storage() -> ContainerStorage:
    """Podman storage with Kiln's Debian 12 base image (a test module that needs more tools
    overrides this with `podman_storage(tool, ...)`)."""
    return podman_storage()


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A short folder for the build VMs' sockets, emptied of VMs and removed afterwards."""
    with runtime_folder() as path:
        yield path
