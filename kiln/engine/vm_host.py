"""QemuBuildHost: the BuildHost port for AMI builds, build instances as QEMU VMs.

Parents and outputs are qcow2 disks:

- `arn:aws:imagebuilder:REGION:aws:image/debian-12-x86/x.x.x` → Kiln's managed Debian base disk
  (`kiln.artifacts.vmdisk.ensure_base_disk`, cached under `store_dir`);
- an `ami-…` id → the AMI's row in the registry (`amis`, an `AmiLookup`) and its disk in that
  region's image store (`stores.path(row.disk)`, a local file even when the store is a bucket).
  The ARN of an image Kiln built arrives here as its AMI id: the build request resolved it
  (kiln.services.imagebuilder.recipe_parents.build_parent, with the launch permissions).

`commit` is CreateImage for a VM: the guest is shut down cleanly, the agent Kiln installed is
purged, the overlay is flattened into a compressed qcow2 (`qemu-img convert -c`) in
`<store_dir>/captures/`, that file is added to the build region's image store as the AMI's disk
(`<region>/<ami>.qcow2`), and the instance is terminated. The engine registers the AMI's row;
what the capture found (clean shutdown, agent packages Kiln installed and removed, parent,
source instance) is its manifest, handed over by `capture_manifest` (kiln.engine.host). The
port's `changes` carry the AMI's attributes as `key=value` (region, account, name, image); a
container commit uses the same slot for Dockerfile instructions.

`remove_image` (a failed build's ledger sweep) removes an AMI's disk found through its row, and
a capture left half-made.

Instances carry the engine's labels in their `instance.json`, so `remove_instances(selector)`
finds them, including those of a process that died.
"""

from __future__ import annotations

import fcntl
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kiln import process
from kiln.amis import registry
from kiln.amis.disks import ImageStoreError
from kiln.amis.registry import AMI_ID, Ami
from kiln.amis.stores import ImageStores
from kiln.artifacts.vmdisk import ensure_base_disk
from kiln.core.errors import BuildError
from kiln.engine.host import PublishTarget
from kiln.instances.base import Instance, LaunchSpec
from kiln.instances.qemu import BOOT_TIMEOUT, QemuInstance, QemuLauncher, destroy
from kiln.store.database import Database

logger = logging.getLogger(__name__)

MANAGED_PARENT = re.compile(r"^arn:aws[^:]*:imagebuilder:[^:]+:aws:image/debian-(\d+)-x86(?:/.*)?$")
CONVERT_TIMEOUT = 3600.0
DEFAULT_REGION = "us-east-1"


class AmiNotFoundError(BuildError):
    pass


class AmiLookup(Protocol):
    """The AMI rows the host reads (kiln.amis.registry)."""

    def get(self, ami_id: str) -> Ami | None: ...


@dataclass(frozen=True)
class RegisteredAmis:
    """AmiLookup over Kiln's database."""

    database: Database

    def get(self, ami_id: str) -> Ami | None:
        with self.database.transaction() as session:
            return registry.get(session, ami_id)


def ami_attributes(changes: Sequence[str]) -> dict[str, str]:
    """The `key=value` attributes the engine hands to commit."""
    return dict(item.split("=", 1) for item in changes if "=" in item)


class QemuBuildHost:
    def __init__(
        self,
        store_dir: Path,
        runtime_dir: Path,
        *,
        amis: AmiLookup,
        stores: ImageStores,
        agent_cache: Path | None = None,
        probe_kernel: Path | None = None,
        boot_timeout: float = BOOT_TIMEOUT,
    ) -> None:
        self.store_dir = store_dir
        self.runtime_dir = runtime_dir
        self.amis = amis
        self.stores = stores
        self.launcher = QemuLauncher(
            runtime_dir,
            agent_cache=agent_cache or store_dir / "agent-debs",
            resolve=self._disk,
            probe_kernel=probe_kernel,
            boot_timeout=boot_timeout,
        )
        self._live: dict[str, QemuInstance] = {}
        self._captures: dict[str, dict[str, Any]] = {}

    # -- images -------------------------------------------------------------------------------

    def _disk(self, image: str) -> Path:
        """The local qcow2 file an instance of `image` (an AMI id or a disk path) boots over."""
        if not AMI_ID.match(image):
            return Path(image)
        ami = self.amis.get(image)
        if ami is None:
            raise AmiNotFoundError(f"the AMI {image} is not registered in Kiln")
        try:
            return self.stores.path(ami.disk)
        except ImageStoreError as exc:
            raise BuildError(f"the disk of {image} cannot be read: {exc}") from exc

    def resolve_parent(self, reference: str) -> str:
        managed = MANAGED_PARENT.match(reference)
        if managed:
            return str(ensure_base_disk(self.store_dir, managed.group(1)).path)
        found = self.amis.get(reference) if AMI_ID.match(reference) else None
        if found is not None:
            return found.ami_id
        raise AmiNotFoundError(
            f"The parent image '{reference}' is neither a Kiln managed image "
            "(arn:aws:imagebuilder:REGION:aws:image/debian-12-x86/x.x.x) nor an AMI Kiln built."
        )

    def commit(self, instance_id: str, *, image: str, changes: Sequence[str]) -> str:
        """CreateImage: capture the instance's disk as AMI `image` into the image store of the
        build's region; the instance ends. `capture_manifest(image)` tells what was found."""
        attributes = ami_attributes(changes)
        try:
            disk = self.stores.relative(attributes.get("region", DEFAULT_REGION), image)
        except ImageStoreError as exc:
            raise BuildError(f"cannot create an image of {instance_id}: {exc}") from exc
        instance = self._instance(instance_id)
        if instance is None:
            raise BuildError(f"cannot create an image of {instance_id}: it is gone")
        started = time.monotonic()
        try:
            clean = instance.shutdown()
            removed = list(instance.agent_packages)
            instance.remove_agent()
            self._capture(instance.overlay, image, disk)
            self._captures[image] = {
                "parent": instance.image,
                "sourceInstance": instance_id,
                "cleanShutdown": clean,
                "agent": {"installedByKiln": removed, "removed": bool(removed)},
            }
        finally:
            self._forget(instance)
        logger.info("instance %s → %s in %.1fs", instance_id, disk, time.monotonic() - started)
        return image

    def capture_manifest(self, image: str) -> dict[str, Any]:
        """What `commit` found when it captured AMI `image` (once; {} when unknown)."""
        return self._captures.pop(image, {})

    def _partial(self, image: str) -> Path:
        return self.store_dir / "captures" / f"{image}.qcow2.partial"

    def _capture(self, overlay: Path, image: str, disk: str) -> None:
        """Flatten the overlay (with its backing chain) into a compressed qcow2 and add it to
        the region's image store as `disk`."""
        partial = self._partial(image)
        partial.parent.mkdir(parents=True, exist_ok=True)
        argv = ["qemu-img", "convert", "-c", "-O", "qcow2", str(overlay), str(partial)]
        try:
            process.run(argv, timeout=CONVERT_TIMEOUT)
            self.stores.add(disk, partial)
        except (process.CommandError, ImageStoreError, OSError) as exc:
            raise BuildError(f"the instance's disk could not be captured as {disk}: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)

    def remove_image(self, image: str) -> None:
        """Remove AMI `image`'s disk (found through its row) and a capture left half-made; the
        caller deregisters the row afterwards."""
        if not AMI_ID.match(image):
            return
        self._captures.pop(image, None)
        self._partial(image).unlink(missing_ok=True)
        ami = self.amis.get(image)
        if ami is not None:
            self.stores.remove(ami.disk)

    def publish(self, image: str, target: PublishTarget) -> list[str]:
        raise BuildError(f"{image} is an AMI: it is not pushed to a container registry")

    # -- instances ----------------------------------------------------------------------------

    def launch(self, *, image: str, instance_type: str, labels: Mapping[str, str]) -> Instance:
        instance = self.launcher.launch(
            LaunchSpec(image=image, instance_type=instance_type, labels=labels)
        )
        self._live[instance.id] = instance
        return instance

    def attach(self, instance_id: str) -> Instance | None:
        instance = self._instance(instance_id)
        return instance if instance is not None and instance.pid is not None else None

    def _instance(self, instance_id: str) -> QemuInstance | None:
        instance = self._live.get(instance_id)
        if instance is not None:
            if instance.directory.is_dir():
                return instance
            self._forget(instance)
            return None
        return self._adopt(instance_id)

    def _adopt(self, instance_id: str) -> QemuInstance | None:
        """An instance another (dead) Kiln process launched: take over its owner lock."""
        directory = self.runtime_dir / instance_id
        if not instance_id.startswith("i-") or not directory.is_dir():
            return None
        try:
            meta = json.loads((directory / "instance.json").read_text())
            owner = (directory / "owner.lock").open("a")
        except (OSError, ValueError):
            return None
        try:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner.close()
            return None
        instance = QemuInstance(directory, owner, meta)
        self._live[instance_id] = instance
        return instance

    def _forget(self, instance: QemuInstance) -> None:
        instance.terminate()
        self._live.pop(instance.id, None)

    def remove_instances(self, selector: str) -> None:
        key, _, value = selector.partition("=")
        for directory in sorted(self.runtime_dir.glob("i-*")):
            try:
                labels = json.loads((directory / "instance.json").read_text()).get("labels", {})
            except (OSError, ValueError):
                continue
            if labels.get(key) != value:
                continue
            live = self._live.get(directory.name)
            if live is not None:
                self._forget(live)
            else:
                destroy(directory)

    def shell_hint(self, instance_id: str) -> str:
        directory = self.runtime_dir / instance_id
        return (
            f"the VM's serial console is logged to {directory / 'console.log'}; its "
            f"qemu-guest-agent answers on {directory / 'qga.sock'} "
            f"(socat - UNIX-CONNECT:{directory / 'qga.sock'})"
        )
