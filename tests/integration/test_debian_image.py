"""Kiln's managed Debian base images: bootstrapped from the host's mirror, cached, locked."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import (
    REPOSITORY,
    DebianImage,
    UnknownDebianReleaseError,
    debian_release,
    ensure_debian_image,
)
from kiln.instances.base import LaunchSpec
from kiln.instances.podman import PodmanLauncher
from tests.integration.conftest import TEST_LABEL


def test_release_names() -> None:
    assert debian_release("debian:bookworm") == debian_release("12")
    assert debian_release("trixie").version == "13"
    with pytest.raises(UnknownDebianReleaseError, match="'potato'"):
        debian_release("potato")


@pytest.mark.podman
def test_cached_and_aliased(debian_image: DebianImage, podman_ready: ContainerStorage) -> None:
    started = time.monotonic()
    again = ensure_debian_image(podman_ready, "bookworm")
    assert time.monotonic() - started < 5, "a cached image is not rebuilt"
    assert again == debian_image
    for alias in ("12", "bookworm"):
        assert podman_ready.image_exists(f"{REPOSITORY}:{alias}")


@pytest.mark.podman
def test_concurrent_callers_agree(
    debian_image: DebianImage, podman_ready: ContainerStorage
) -> None:
    results: list[DebianImage] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_debian_image(podman_ready, "12")))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [debian_image] * 3


@pytest.mark.podman
def test_max_age_keeps_a_fresh_image(
    debian_image: DebianImage, podman_ready: ContainerStorage
) -> None:
    stamp = debian_image.name.rsplit("-", 1)[1]
    built = dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
    same = ensure_debian_image(podman_ready, "12", max_age=dt.timedelta(days=30), today=built)
    assert same == debian_image


@pytest.mark.podman
def test_image_is_debian_with_the_hosts_mirror(
    launcher: PodmanLauncher, debian_image: DebianImage
) -> None:
    with launcher.launch(LaunchSpec(debian_image.name, labels=TEST_LABEL)) as inst:
        chunks: list[bytes] = []
        outcome = inst.communicator.exec(
            ["sh", "-c", "cat /etc/debian_version; cat /etc/apt/sources.list; dpkg -s coreutils"],
            on_output=chunks.append,
            timeout=30,
        )
    text = b"".join(chunks).decode()
    assert outcome.exit_code == 0, text
    assert text.startswith("12.")
    assert "bookworm-security" in text
    assert "Status: install ok installed" in text


@pytest.mark.podman
@pytest.mark.slow
def test_trixie_image(podman_ready: ContainerStorage, launcher: PodmanLauncher) -> None:
    started = time.monotonic()
    image = ensure_debian_image(podman_ready, "13")
    print(f"trixie base image ready in {time.monotonic() - started:.1f}s")
    assert podman_ready.image_exists(f"{REPOSITORY}:trixie")
    with launcher.launch(LaunchSpec(image.name, labels=TEST_LABEL)) as inst:
        chunks: list[bytes] = []
        inst.communicator.exec(["cat", "/etc/debian_version"], on_output=chunks.append, timeout=30)
    assert b"".join(chunks).startswith(b"13.")
