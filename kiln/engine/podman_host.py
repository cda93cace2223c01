"""PodmanBuildHost: build instances as podman containers in Kiln's own containers-storage."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import debian_release, ensure_debian_image
from kiln.artifacts.oci import ImageLocation, copy_image
from kiln.core.errors import BuildError
from kiln.engine.host import PublishTarget
from kiln.instances.base import Instance, LaunchSpec
from kiln.instances.podman import CONTAINER_PREFIX, PodmanInstance, PodmanLauncher
from kiln.instances.types import resource_limits

logger = logging.getLogger(__name__)

_DEBIAN_NAMES = ("debian:12", "debian:bookworm", "debian:13", "debian:trixie")


class PodmanBuildHost:
    def __init__(
        self, storage: ContainerStorage, *, insecure_registries: Sequence[str] = ()
    ) -> None:
        self.storage = storage
        self.launcher = PodmanLauncher(storage)
        self.insecure = frozenset(insecure_registries)

    def launch(self, *, image: str, instance_type: str, labels: Mapping[str, str]) -> Instance:
        registry = image.split("/", 1)[0] if "/" in image else ""
        spec = LaunchSpec(
            image=image,
            instance_type=instance_type,
            labels=labels,
            tls_verify=registry not in self.insecure,
        )
        instance = self.launcher.launch(spec)
        instance.communicator.wait_ready()
        return instance

    def attach(self, instance_id: str) -> Instance | None:
        found = [r for r in self.launcher.list_instances() if r.instance_id == instance_id]
        if not found or found[0].status != "running":
            return None
        return PodmanInstance(
            self.storage, instance_id, image="", limits=resource_limits("t3.micro")
        )

    def commit(self, instance_id: str, *, image: str, changes: Sequence[str]) -> str:
        instance = PodmanInstance(
            self.storage, instance_id, image="", limits=resource_limits("t3.micro")
        )
        return instance.commit(image, changes=changes)

    def resolve_parent(self, reference: str) -> str:
        name = reference.removeprefix("docker://")
        if name in _DEBIAN_NAMES:
            return ensure_debian_image(self.storage, debian_release(name).version).name
        unqualified = "/" not in name.split(":", 1)[0] and "." not in name.split("/", 1)[0]
        if unqualified and not self.storage.image_exists(name):
            raise BuildError(
                f"The parent image '{reference}' is not a Kiln managed image "
                "(debian:12, debian:bookworm, debian:13, debian:trixie) and names no "
                "registry: use a fully qualified reference such as registry:5000/repo:tag."
            )
        return name

    def publish(self, image: str, target: PublishTarget) -> list[str]:
        source = ImageLocation.storage(image)
        uris = []
        for tag in target.tags:
            if target.registry is not None:
                reference = f"{target.registry}/{target.repository}:{tag}"
                destination = ImageLocation.registry(
                    reference,
                    tls_verify=target.tls_verify and target.registry not in self.insecure,
                )
                copy_image(source, destination, storage=self.storage)
                uris.append(reference)
            else:
                assert target.layout_root is not None
                directory = target.layout_root / target.repository
                copy_image(source, ImageLocation.oci_layout(directory, tag), storage=self.storage)
                uris.append(f"oci:{directory}:{tag}")
        return uris

    def remove_instances(self, selector: str) -> None:
        key, _, value = selector.partition("=")
        self.launcher.remove_leftovers({key: value})

    def remove_image(self, image: str) -> None:
        self.storage.run(["podman", "rmi", "--force", "--ignore", image], timeout=120, check=False)

    def shell_hint(self, instance_id: str) -> str:
        env = " ".join(
            f"{key}={shlex.quote(str(path))}"
            for key, path in (
                ("CONTAINERS_CONF", self.storage.containers_conf),
                ("CONTAINERS_STORAGE_CONF", self.storage.storage_conf),
            )
        )
        return (
            f"{env} podman --root {shlex.quote(str(self.storage.graphroot))} "
            f"--runroot {shlex.quote(str(self.storage.runroot))} "
            f"exec -it {CONTAINER_PREFIX}{instance_id} bash"
        )


def storage_at(data_dir: Path) -> ContainerStorage:
    """Kiln's containers-storage under the data directory."""
    return ContainerStorage.at(data_dir / "containers")
