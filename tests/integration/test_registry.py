"""The managed docker-registry; moving images with skopeo (store, registry, OCI layout)."""

from __future__ import annotations

import json
import secrets
import socket
import time
from pathlib import Path

import pytest

from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import DebianImage
from kiln.artifacts.oci import (
    ImageLocation,
    ImageTransferError,
    copy_image,
    inspect_image,
    write_oci_layout,
)
from kiln.artifacts.registry import RegistryServer
from kiln.instances.base import LaunchSpec
from kiln.instances.podman import PodmanInstance, PodmanLauncher
from tests.integration.conftest import TEST_LABEL


def test_registry_starts_answers_and_stops(registry: RegistryServer) -> None:
    assert registry.host == "127.0.0.1"
    assert registry.ping()
    port = registry.port
    registry.stop()
    assert not registry.ping()
    with socket.socket() as sock:  # the port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


@pytest.mark.podman
@pytest.mark.slow
def test_commit_push_and_pull_back_by_digest(
    instance: PodmanInstance,
    registry: RegistryServer,
    storage: ContainerStorage,
    launcher: PodmanLauncher,
    tmp_path: Path,
) -> None:
    instance.communicator.exec(
        ["sh", "-c", "echo pushed > /etc/kiln-anchor"], on_output=lambda _: None, timeout=30
    )
    local = f"localhost/kiln-test/push:{secrets.token_hex(3)}"
    pulled = f"localhost/kiln-test/pulled:{secrets.token_hex(3)}"
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        instance.commit(local)
        timings["commit"] = time.monotonic() - started
        remote = ImageLocation.registry(f"{registry.address}/kiln/app:1.0.0", tls_verify=False)

        started = time.monotonic()
        digest = copy_image(ImageLocation.storage(local), remote, storage=storage)
        timings["push"] = time.monotonic() - started
        assert digest.startswith("sha256:")
        assert inspect_image(remote, storage=storage).digest == digest

        by_digest = ImageLocation.registry(
            f"{registry.address}/kiln/app@{digest}", tls_verify=False
        )
        started = time.monotonic()
        copy_image(by_digest, ImageLocation.storage(pulled), storage=storage)
        timings["pull"] = time.monotonic() - started
        assert inspect_image(ImageLocation.storage(pulled), storage=storage).layers

        spec = LaunchSpec(
            f"{registry.address}/kiln/app@{digest}", tls_verify=False, labels=TEST_LABEL
        )
        with launcher.launch(spec) as from_registry:
            chunks: list[bytes] = []
            from_registry.communicator.exec(
                ["cat", "/etc/kiln-anchor"], on_output=chunks.append, timeout=30
            )
            assert b"".join(chunks) == b"pushed\n"

        layout = tmp_path / "layout"
        layout_digest = write_oci_layout(
            ImageLocation.storage(pulled), layout, tag="1.0.0", storage=storage
        )
        index = json.loads((layout / "index.json").read_text())
        assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1.0.0"
        assert index["manifests"][0]["digest"] == layout_digest
        assert inspect_image(ImageLocation.oci_layout(layout, "1.0.0"), storage=storage).layers
        print("timings:", {k: round(v, 2) for k, v in timings.items()})
    finally:
        storage.run(["podman", "rmi", "--force", local, pulled], timeout=60, check=False)


@pytest.mark.podman
def test_missing_image_is_a_transfer_error(
    podman_ready: ContainerStorage, registry: RegistryServer
) -> None:
    missing = ImageLocation.registry(f"{registry.address}/kiln/none:1", tls_verify=False)
    with pytest.raises(ImageTransferError, match="kiln/none"):
        inspect_image(missing, storage=podman_ready)


@pytest.mark.podman
def test_debian_image_to_oci_layout(
    debian_image: DebianImage, storage: ContainerStorage, tmp_path: Path
) -> None:
    digest = write_oci_layout(
        ImageLocation.storage(debian_image.name), tmp_path / "oci", tag="12", storage=storage
    )
    inspected = inspect_image(ImageLocation.oci_layout(tmp_path / "oci", "12"), storage=storage)
    assert inspected.labels["kiln.debian.codename"] == "bookworm"
    assert digest.startswith("sha256:")
