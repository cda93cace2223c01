"""The BuildHost port: everything the engine asks of the machinery that runs build instances.

`kiln.instances.Launcher` launches; the engine also needs to re-attach to an instance after a
parked WaitForAction, capture an instance as an image, resolve parent images, publish results
and remove what a build left. PodmanBuildHost (podman_host.py) and FakeBuildHost (fakes.py)
implement it.

A host that learns facts while it captures an AMI (QemuBuildHost: clean shutdown, the agent it
removed) also implements `CaptureRecords`; `capture_manifest(host, image)` asks any host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kiln.instances.base import Instance

BUILD_ANNOTATION = "kiln.build"


@dataclass(frozen=True)
class PublishTarget:
    """Where a container image goes: a registry (`host:port`) or an OCI layout root."""

    repository: str
    tags: tuple[str, ...]
    registry: str | None = None
    layout_root: Path | None = None
    tls_verify: bool = True

    def uris(self) -> list[str]:
        if self.registry is not None:
            return [f"{self.registry}/{self.repository}:{tag}" for tag in self.tags]
        assert self.layout_root is not None
        return [f"oci:{self.layout_root / self.repository}:{tag}" for tag in self.tags]


class BuildHost(Protocol):
    def launch(self, *, image: str, instance_type: str, labels: Mapping[str, str]) -> Instance: ...

    def attach(self, instance_id: str) -> Instance | None:
        """The running instance with this id, or None when it is gone."""
        ...

    def commit(self, instance_id: str, *, image: str, changes: Sequence[str]) -> str:
        """Capture the instance as local image `image`; returns the image id."""
        ...

    def resolve_parent(self, reference: str) -> str:
        """A recipe's parent image reference → a local image name an instance can start from."""
        ...

    def publish(self, image: str, target: PublishTarget) -> list[str]:
        """Push a local image to each tag of target; returns the image URIs."""
        ...

    def remove_instances(self, selector: str) -> None:
        """Remove every instance whose annotations include `key=value` selector."""
        ...

    def remove_image(self, image: str) -> None: ...

    def shell_hint(self, instance_id: str) -> str:
        """The command that opens a shell in a kept instance."""
        ...


@runtime_checkable
class CaptureRecords(Protocol):
    def capture_manifest(self, image: str) -> dict[str, Any]:
        """What the host recorded when it committed `image` (asked once, after commit)."""
        ...


def capture_manifest(host: BuildHost, image: str) -> dict[str, Any]:
    """The facts of `image`'s capture, for its AMI row's manifest; {} when the host keeps none."""
    return host.capture_manifest(image) if isinstance(host, CaptureRecords) else {}
