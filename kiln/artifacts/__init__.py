"""What builds produce and consume: managed base images, OCI images, registries, the image store."""

from kiln.artifacts.apt_sources import DebianMirror
from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import DebianImage, debian_release, ensure_debian_image
from kiln.artifacts.oci import (
    ImageInspection,
    ImageLocation,
    ImageTransferError,
    copy_image,
    inspect_image,
    write_oci_layout,
)
from kiln.artifacts.registry import RegistryError, RegistryServer

__all__ = [
    "ContainerStorage",
    "DebianImage",
    "DebianMirror",
    "ImageInspection",
    "ImageLocation",
    "ImageTransferError",
    "RegistryError",
    "RegistryServer",
    "copy_image",
    "debian_release",
    "ensure_debian_image",
    "inspect_image",
    "write_oci_layout",
]
