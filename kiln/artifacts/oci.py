"""OCI images wherever they live, and moving them between places with skopeo.

An `ImageLocation` is one skopeo transport reference: Kiln's containers-storage, an OCI layout
directory, or a registry (`docker://`). `copy_image` pushes, pulls and exports between any two
of them and returns the manifest digest written at the destination; `inspect_image` reads one.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from kiln import process
from kiln.artifacts.containers import ContainerStorage
from kiln.core.errors import BuildError

COPY_TIMEOUT = 1800.0
INSPECT_TIMEOUT = 120.0


class Transport(StrEnum):
    STORAGE = "containers-storage"
    OCI_LAYOUT = "oci"
    REGISTRY = "docker"


class ImageTransferError(BuildError):
    """skopeo could not copy or inspect an image."""


@dataclass(frozen=True)
class ImageLocation:
    transport: Transport
    reference: str  # image name, `DIR:TAG`, or `host:port/repo:tag` / `...@sha256:...`
    tls_verify: bool = True  # registries only

    @classmethod
    def storage(cls, name: str) -> ImageLocation:
        return cls(Transport.STORAGE, name)

    @classmethod
    def oci_layout(cls, directory: Path, tag: str) -> ImageLocation:
        return cls(Transport.OCI_LAYOUT, f"{directory}:{tag}")

    @classmethod
    def registry(cls, reference: str, *, tls_verify: bool = True) -> ImageLocation:
        return cls(Transport.REGISTRY, reference.removeprefix("docker://"), tls_verify)

    def __str__(self) -> str:
        if self.transport is Transport.REGISTRY:
            return f"docker://{self.reference}"
        return f"{self.transport.value}:{self.reference}"

    def tls_flags(self, role: str) -> list[str]:
        if self.transport is Transport.REGISTRY and not self.tls_verify:
            return [f"--{role}tls-verify=false"]
        return []


@dataclass(frozen=True)
class ImageInspection:
    digest: str
    architecture: str
    os: str
    labels: dict[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


def copy_image(
    src: ImageLocation,
    dst: ImageLocation,
    *,
    storage: ContainerStorage,
    timeout: float = COPY_TIMEOUT,
) -> str:
    """skopeo copy src → dst; returns the manifest digest (`sha256:...`) at the destination."""
    if dst.transport is Transport.OCI_LAYOUT:
        Path(dst.reference.rsplit(":", 1)[0]).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kiln-skopeo-") as tmp:
        digest_file = Path(tmp) / "digest"
        argv = [
            "skopeo",
            "copy",
            "--quiet",
            "--digestfile",
            str(digest_file),
            *src.tls_flags("src-"),
            *dst.tls_flags("dest-"),
            str(src),
            str(dst),
        ]
        try:
            storage.run(argv, timeout=timeout)
        except process.CommandError as exc:
            raise ImageTransferError(f"copying {src} to {dst} failed: {exc}") from exc
        return digest_file.read_text().strip()


def write_oci_layout(
    image: ImageLocation, directory: Path, *, tag: str, storage: ContainerStorage
) -> str:
    """Write `image` into the OCI layout `directory` under `tag`; returns its manifest digest."""
    return copy_image(image, ImageLocation.oci_layout(directory, tag), storage=storage)


def inspect_image(location: ImageLocation, *, storage: ContainerStorage) -> ImageInspection:
    argv = ["skopeo", "inspect", *location.tls_flags(""), str(location)]
    try:
        done = storage.run(argv, timeout=INSPECT_TIMEOUT)
    except process.CommandError as exc:
        raise ImageTransferError(f"inspecting {location} failed: {exc}") from exc
    data: dict[str, Any] = json.loads(done.text)
    return ImageInspection(
        digest=str(data.get("Digest", "")),
        architecture=str(data.get("Architecture", "")),
        os=str(data.get("Os", "")),
        labels=dict(data.get("Labels") or {}),
        layers=tuple(data.get("Layers") or ()),
        env=tuple(data.get("Env") or ()),
        raw=data,
    )
