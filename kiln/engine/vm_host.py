"""QemuBuildHost: the BuildHost port for AMI builds, build instances as QEMU VMs.

Parents and outputs are qcow2 disks:

- `arn:aws:imagebuilder:REGION:aws:image/debian-12-x86/x.x.x` → Kiln's managed Debian base disk
  (`kiln.artifacts.vmdisk.ensure_base_disk`, cached under `store_dir`);
- an `ami-…` id, or the ARN of an image Kiln built → the disk registered under that AMI.

AMIs live in `<data_dir>/amis/<region>/<ami>.qcow2`, each beside `<ami>.json` (name, parent,
account, region, image ARN, created, agent status). `commit` is CreateImage for a VM: the guest
is shut down cleanly, the agent Kiln installed is purged, the overlay is flattened into a new
compressed qcow2 (`qemu-img convert -c`), and the instance is terminated (its disk is now the
AMI). The port's `changes` carry the AMI's attributes as `key=value` (region, account, name,
image); a container commit uses the same slot for Dockerfile instructions.

Instances carry the engine's labels in their `instance.json`, so `remove_instances(selector)`
finds them, including those of a process that died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln import process
from kiln.amis.registry import AMI_ID
from kiln.artifacts.vmdisk import ensure_base_disk
from kiln.core.errors import BuildError
from kiln.engine.host import PublishTarget
from kiln.instances.base import Instance, LaunchSpec
from kiln.instances.qemu import QemuInstance, QemuLauncher, destroy

logger = logging.getLogger(__name__)

MANAGED_PARENT = re.compile(r"^arn:aws[^:]*:imagebuilder:[^:]+:aws:image/debian-(\d+)-x86(?:/.*)?$")
CONVERT_TIMEOUT = 3600.0
DEFAULT_REGION = "us-east-1"


class AmiNotFoundError(BuildError):
    pass


@dataclass(frozen=True)
class Ami:
    """One registered AMI: its disk and manifest."""

    ami_id: str
    region: str
    disk: Path
    manifest: dict[str, Any]


def ami_attributes(changes: Sequence[str]) -> dict[str, str]:
    """The `key=value` attributes the engine hands to commit."""
    return dict(item.split("=", 1) for item in changes if "=" in item)


class AmiStore:
    """`<root>/<region>/<ami>.qcow2` + `<ami>.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find(self, ami_id: str) -> Ami | None:
        if not AMI_ID.match(ami_id):
            return None
        for disk in sorted(self.root.glob(f"*/{ami_id}.qcow2")):
            return self._ami(disk)
        return None

    def by_image_arn(self, image_arn: str) -> Ami | None:
        for manifest in sorted(self.root.glob("*/ami-*.json")):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(manifest.read_text()).get("imageArn") == image_arn:
                    return self._ami(manifest.with_suffix(".qcow2"))
        return None

    def _ami(self, disk: Path) -> Ami | None:
        if not disk.is_file():
            return None
        try:
            manifest = json.loads(disk.with_suffix(".json").read_text())
        except (OSError, ValueError):
            manifest = {}
        return Ami(disk.stem, disk.parent.name, disk, manifest)

    def register(self, ami_id: str, region: str, source: Path, manifest: Mapping[str, Any]) -> Ami:
        """Flatten source (an overlay, with its backing chain) into the AMI's compressed disk."""
        if not AMI_ID.match(ami_id):
            raise BuildError(f"'{ami_id}' is not an AMI id (ami- and 17 hex digits)")
        folder = self.root / region
        folder.mkdir(parents=True, exist_ok=True)
        disk = folder / f"{ami_id}.qcow2"
        partial = folder / f".{ami_id}.qcow2.partial"
        argv = ["qemu-img", "convert", "-c", "-O", "qcow2", str(source), str(partial)]
        try:
            process.run(argv, timeout=CONVERT_TIMEOUT)
        except process.CommandError as exc:
            partial.unlink(missing_ok=True)
            raise BuildError(f"the instance's disk could not be captured: {exc}") from exc
        body = {**manifest, "amiId": ami_id, "region": region, "size": partial.stat().st_size}
        tmp = folder / f".{ami_id}.json.partial"
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        os.replace(tmp, disk.with_suffix(".json"))
        os.replace(partial, disk)
        return Ami(ami_id, region, disk, body)

    def remove(self, ami_id: str) -> None:
        for region in self.root.glob("*"):
            for path in (region / f"{ami_id}.qcow2", region / f"{ami_id}.json"):
                path.unlink(missing_ok=True)


class QemuBuildHost:
    def __init__(
        self,
        store_dir: Path,
        runtime_dir: Path,
        *,
        data_dir: Path,
        agent_cache: Path | None = None,
        probe_kernel: Path | None = None,
        boot_timeout: float = 600.0,
    ) -> None:
        self.store_dir = store_dir
        self.runtime_dir = runtime_dir
        self.amis = AmiStore(data_dir / "amis")
        self.launcher = QemuLauncher(
            runtime_dir,
            agent_cache=agent_cache or store_dir / "agent-debs",
            resolve=self._disk,
            probe_kernel=probe_kernel,
            boot_timeout=boot_timeout,
        )
        self._live: dict[str, QemuInstance] = {}

    # -- images -------------------------------------------------------------------------------

    def _disk(self, image: str) -> Path:
        ami = self.amis.find(image)
        if ami is not None:
            return ami.disk
        if AMI_ID.match(image):
            raise AmiNotFoundError(f"the AMI {image} is not registered in Kiln")
        return Path(image)

    def resolve_parent(self, reference: str) -> str:
        managed = MANAGED_PARENT.match(reference)
        if managed:
            return str(ensure_base_disk(self.store_dir, managed.group(1)).path)
        ami = self.amis.find(reference) or self.amis.by_image_arn(reference)
        if ami is not None:
            return ami.ami_id
        raise AmiNotFoundError(
            f"The parent image '{reference}' is neither a Kiln managed image "
            "(arn:aws:imagebuilder:REGION:aws:image/debian-12-x86/x.x.x) nor an AMI Kiln built."
        )

    def commit(self, instance_id: str, *, image: str, changes: Sequence[str]) -> str:
        """CreateImage: capture the instance's disk as AMI `image`; the instance ends."""
        instance = self._instance(instance_id)
        if instance is None:
            raise BuildError(f"cannot create an image of {instance_id}: it is gone")
        attributes = ami_attributes(changes)
        started = time.monotonic()
        try:
            clean = instance.shutdown()
            removed = list(instance.agent_packages)
            instance.remove_agent()
            meta = json.loads((instance.directory / "instance.json").read_text())
            manifest = {
                "name": attributes.get("name", image),
                "account": attributes.get("account", ""),
                "imageArn": attributes.get("image", ""),
                "parent": meta.get("parent", ""),
                "sourceInstance": instance_id,
                "created": time.time(),
                "cleanShutdown": clean,
                "agent": {"installedByKiln": removed, "removed": bool(removed)},
            }
            region = attributes.get("region", DEFAULT_REGION)
            self.amis.register(image, region, instance.overlay, manifest)
        finally:
            self._forget(instance)
        logger.info("instance %s → %s in %.1fs", instance_id, image, time.monotonic() - started)
        return image

    def remove_image(self, image: str) -> None:
        self.amis.remove(image)

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
