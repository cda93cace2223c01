"""Fixtures for podman build instances, the managed Debian base image and a local registry.

The image store lives in a persistent directory (KILN_TEST_STATE_DIR, default
~/.cache/kiln-test/containers) so the Debian base image is bootstrapped once per machine, not
once per session: the first run pays mmdebstrap (about 15-30 s) plus podman import (about 11 s);
later sessions reuse the dated image in well under a second. The per-test registry and instance
containers are removed after each test.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import DebianImage, ensure_debian_image
from kiln.artifacts.registry import RegistryServer
from kiln.instances.base import LaunchSpec
from kiln.instances.podman import PodmanInstance, PodmanLauncher, podman_unavailable_reason

logger = logging.getLogger(__name__)

STATE_DIR = Path(
    os.environ.get("KILN_TEST_STATE_DIR", Path.home() / ".cache" / "kiln-test" / "containers")
)
TEST_LABEL = {"kiln.test-session": str(os.getpid())}


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def storage() -> ContainerStorage:
    return ContainerStorage.at(STATE_DIR)


@pytest.fixture(scope="session")
def podman_ready(storage: ContainerStorage) -> ContainerStorage:
    reason = podman_unavailable_reason(storage)
    if reason:
        _skip_or_fail(f"podman build instances unavailable: {reason}")
    return storage


@pytest.fixture(scope="session")
def debian_image(podman_ready: ContainerStorage) -> DebianImage:
    """Kiln's managed Debian 12 base image (bootstrapped on first use, then cached)."""
    started = time.monotonic()
    image = ensure_debian_image(podman_ready, "12")
    logger.warning("debian base image %s ready in %.1fs", image.name, time.monotonic() - started)
    return image


@pytest.fixture
def launcher(podman_ready: ContainerStorage) -> Iterator[PodmanLauncher]:
    launcher = PodmanLauncher(podman_ready)
    yield launcher
    launcher.remove_leftovers(TEST_LABEL)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    if shutil.which("docker-registry") is None:
        _skip_or_fail("docker-registry is not installed (scripts/debian-packages.txt)")
    with RegistryServer(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def instance(launcher: PodmanLauncher, debian_image: DebianImage) -> Iterator[PodmanInstance]:
    with launcher.launch(LaunchSpec(debian_image.name, labels=TEST_LABEL)) as launched:
        yield launched
