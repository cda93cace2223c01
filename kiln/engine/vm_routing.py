"""ImageTypeRouter: one BuildHost for both image types, so one executor builds container recipes
(podman) and image recipes (QEMU).

The engine never names the image type to its host, but the references tell them apart: an AMI
build's parent is an image ARN or an `ami-…` id and resolves to a qcow2 path or an AMI id, its
CreateImage commits to an `ami-…` id; container references are image names. Instances are asked
of the VM host first (it knows its instance directories), then the container host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kiln.engine.host import BuildHost, PublishTarget, capture_manifest
from kiln.instances.base import Instance


def is_vm_reference(reference: str) -> bool:
    """An image reference only the VM host understands."""
    return reference.startswith(("ami-", "arn:", "/"))


class ImageTypeRouter:
    def __init__(self, *, container: BuildHost, vm: BuildHost) -> None:
        self.container = container
        self.vm = vm

    def _for(self, reference: str) -> BuildHost:
        return self.vm if is_vm_reference(reference) else self.container

    def launch(self, *, image: str, instance_type: str, labels: Mapping[str, str]) -> Instance:
        return self._for(image).launch(image=image, instance_type=instance_type, labels=labels)

    def attach(self, instance_id: str) -> Instance | None:
        return self.vm.attach(instance_id) or self.container.attach(instance_id)

    def commit(self, instance_id: str, *, image: str, changes: Sequence[str]) -> str:
        return self._for(image).commit(instance_id, image=image, changes=changes)

    def capture_manifest(self, image: str) -> dict[str, Any]:
        return capture_manifest(self._for(image), image)

    def resolve_parent(self, reference: str) -> str:
        return self._for(reference).resolve_parent(reference)

    def publish(self, image: str, target: PublishTarget) -> list[str]:
        return self._for(image).publish(image, target)

    def remove_instances(self, selector: str) -> None:
        self.vm.remove_instances(selector)
        self.container.remove_instances(selector)

    def remove_image(self, image: str) -> None:
        self._for(image).remove_image(image)

    def shell_hint(self, instance_id: str) -> str:
        host = self.vm if self.vm.attach(instance_id) is not None else self.container
        return host.shell_hint(instance_id)
