"""Podman build instances: one long-running runc container per instance.

A minbase image has no init, and a user's image may have no shell or coreutils, so the
container's PID 1 is the host's static `catatonit -P` (a reaping init that just waits),
bind-mounted at /dev/kiln-init: /dev is a tmpfs, so nothing of it reaches a committed image.
Runtime (runc) and ulimits come from Kiln's containers.conf (kiln.artifacts.containers).

Instances are marked with the OCI annotation `kiln.instance=<id>` (plus the launch spec's
labels, also as annotations) rather than container labels, because podman commit copies
container labels into the image. `list_instances` / `remove_leftovers` find them after a crash.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from kiln import process
from kiln.artifacts.containers import ContainerStorage
from kiln.core.errors import ConfigurationError
from kiln.instances.base import InstanceError, LaunchSpec, new_instance_id
from kiln.instances.podman_communicator import INIT_IN_CONTAINER, PodmanCommunicator
from kiln.instances.types import ResourceLimits, resource_limits

logger = logging.getLogger(__name__)

INSTANCE_ANNOTATION = "kiln.instance"
NAME_ANNOTATION = "kiln.name"
CONTAINER_PREFIX = "kiln-"
INIT_ON_HOST = Path("/usr/bin/catatonit")
LAUNCH_TIMEOUT = 1800.0  # includes pulling the image
CONTROL_TIMEOUT = 120.0
COMMIT_TIMEOUT = 1800.0
COMMIT_INSTRUCTIONS = frozenset(
    {
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)


def podman_unavailable_reason(storage: ContainerStorage) -> str | None:
    """Why podman build instances cannot run here, or None when they can."""
    for tool in ("podman", "runc", "conmon"):
        if shutil.which(tool) is None and not Path(f"/usr/libexec/podman/{tool}").exists():
            return f"{tool} is not installed (scripts/debian-packages.txt)"
    if not INIT_ON_HOST.exists():
        return f"{INIT_ON_HOST} is missing (apt-get install catatonit)"
    done = storage.run(
        ["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], timeout=60, check=False
    )
    if done.returncode != 0:
        return "podman info failed: " + done.stderr.decode("utf-8", "replace").strip()[-500:]
    if done.text.strip() != "runc":
        return f"podman uses runtime {done.text.strip()!r}, not runc"
    return None


@dataclass(frozen=True)
class InstanceRecord:
    """A Kiln instance container as podman lists it (for sweeps after a crash)."""

    instance_id: str
    container: str
    status: str
    labels: Mapping[str, str] = field(default_factory=dict)


class PodmanInstance:
    """A running build instance; a context manager that terminates it on exit."""

    def __init__(
        self, storage: ContainerStorage, instance_id: str, *, image: str, limits: ResourceLimits
    ) -> None:
        self.storage = storage
        self._id = instance_id
        self.image = image
        self.limits = limits
        self.container = CONTAINER_PREFIX + instance_id
        self._communicator = PodmanCommunicator(storage, self.container)

    @property
    def id(self) -> str:
        return self._id

    @property
    def communicator(self) -> PodmanCommunicator:
        return self._communicator

    def reboot(self) -> None:
        self._communicator.reboot()

    def terminate(self) -> None:
        self.storage.run(
            ["podman", "rm", "--force", "--time", "2", "--ignore", self.container],
            timeout=CONTROL_TIMEOUT,
        )

    def inspect(self) -> dict[str, Any]:
        done = self._podman(["container", "inspect", self.container], timeout=CONTROL_TIMEOUT)
        data: list[dict[str, Any]] = json.loads(done.text)
        return data[0]

    def commit(self, image: str, *, changes: Sequence[str] = ()) -> str:
        """Capture the container's filesystem as image `image`; returns the image id.

        `changes` are Dockerfile instructions (`ENV A=1`, `USER app`, `CMD ["x"]`, ...). The
        source image's ENTRYPOINT and CMD are kept unless changed: Kiln's init never leaks.
        """
        changes = [c.strip() for c in changes]
        for change in changes:
            keyword = change.split(None, 1)[0].upper() if change else ""
            if keyword not in COMMIT_INSTRUCTIONS:
                raise InstanceError(f"unsupported image change {change!r}")
        given = {c.split(None, 1)[0].upper() for c in changes}
        source = self._source_config()
        keep = []
        if "ENTRYPOINT" not in given:
            keep.append("ENTRYPOINT " + json.dumps(source.get("Entrypoint") or []))
        if "CMD" not in given:
            keep.append("CMD " + json.dumps(source.get("Cmd") or []))
        argv = ["podman", "commit", "--quiet"]
        for change in [*keep, *changes]:
            argv += ["--change", change]
        argv += [self.container, image]
        started = time.monotonic()
        done = self._podman(argv[1:], timeout=COMMIT_TIMEOUT)
        logger.info("commit %s → %s: %.2fs", self.container, image, time.monotonic() - started)
        return done.text.strip()

    def _source_config(self) -> dict[str, Any]:
        image_id = self.inspect()["Image"]
        done = self._podman(["image", "inspect", image_id], timeout=CONTROL_TIMEOUT)
        data: list[dict[str, Any]] = json.loads(done.text)
        config: dict[str, Any] = data[0].get("Config") or {}
        return config

    def _podman(self, args: Sequence[str], *, timeout: float) -> process.Completed:
        try:
            return self.storage.run(["podman", *args], timeout=timeout)
        except process.CommandError as exc:
            raise InstanceError(f"podman {args[0]} for {self.container} failed: {exc}") from exc

    def __enter__(self) -> PodmanInstance:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()


class PodmanLauncher:
    """Launches PodmanInstances into one ContainerStorage."""

    def __init__(self, storage: ContainerStorage, *, host_cpus: int | None = None) -> None:
        if not INIT_ON_HOST.exists():
            raise ConfigurationError(f"{INIT_ON_HOST} is missing", hint="apt-get install catatonit")
        self.storage = storage
        self.host_cpus = host_cpus

    def launch(self, spec: LaunchSpec) -> PodmanInstance:
        instance_id = new_instance_id()
        limits = resource_limits(spec.instance_type, host_cpus=self.host_cpus)
        container = CONTAINER_PREFIX + instance_id
        argv = [
            "podman",
            "run",
            "--detach",
            "--name",
            container,
            "--hostname",
            instance_id,
            "--annotation",
            f"{INSTANCE_ANNOTATION}={instance_id}",
            "--cpus",
            f"{limits.cpus:g}",
            "--memory",
            f"{limits.memory_mib}m",
            "--memory-swap",
            f"{limits.memory_mib}m",
            "--unsetenv",
            "TERM",
            "--unsetenv",
            "container",
            "--volume",
            f"{INIT_ON_HOST}:{INIT_IN_CONTAINER}:ro",
            "--entrypoint",
            json.dumps([INIT_IN_CONTAINER, "-P"]),
        ]
        if spec.name:
            argv += ["--annotation", f"{NAME_ANNOTATION}={spec.name}"]
        for key, value in spec.labels.items():
            argv += ["--annotation", f"{key}={value}"]
        if not spec.tls_verify:
            argv.append("--tls-verify=false")
        argv.append(spec.image)
        started = time.monotonic()
        try:
            self.storage.run(argv, timeout=LAUNCH_TIMEOUT)
        except process.CommandError as exc:
            self.storage.run(
                ["podman", "rm", "--force", "--ignore", container],
                timeout=CONTROL_TIMEOUT,
                check=False,
            )
            raise InstanceError(f"launching {spec.image} as {instance_id} failed: {exc}") from exc
        logger.info(
            "launched %s from %s (%s, %s): %.2fs",
            instance_id,
            spec.image,
            spec.instance_type,
            limits,
            time.monotonic() - started,
        )
        return PodmanInstance(self.storage, instance_id, image=spec.image, limits=limits)

    def list_instances(self, labels: Mapping[str, str] | None = None) -> list[InstanceRecord]:
        """Every Kiln instance container whose labels include `labels`, running or not."""
        ids = self.storage.run(
            ["podman", "ps", "--all", "--quiet", "--no-trunc"], timeout=CONTROL_TIMEOUT
        ).text.split()
        if not ids:
            return []
        done = self.storage.run(
            ["podman", "container", "inspect", *ids], timeout=CONTROL_TIMEOUT, check=False
        )
        records = []
        for item in json.loads(done.text or "[]"):
            annotations: dict[str, str] = (item.get("Config") or {}).get("Annotations") or {}
            instance_id = annotations.get(INSTANCE_ANNOTATION)
            if not instance_id:
                continue
            if any(annotations.get(k) != v for k, v in (labels or {}).items()):
                continue
            records.append(
                InstanceRecord(
                    instance_id=instance_id,
                    container=str(item["Name"]),
                    status=str((item.get("State") or {}).get("Status", "")),
                    labels=annotations,
                )
            )
        return records

    def remove_leftovers(
        self, labels: Mapping[str, str] | None = None, *, keep: Collection[str] = ()
    ) -> list[str]:
        """Remove Kiln instance containers matching `labels`, except instance ids in `keep`."""
        doomed = [r for r in self.list_instances(labels) if r.instance_id not in keep]
        if doomed:
            self.storage.run(
                [
                    "podman",
                    "rm",
                    "--force",
                    "--time",
                    "2",
                    "--ignore",
                    *(r.container for r in doomed),
                ],
                timeout=CONTROL_TIMEOUT,
            )
            logger.info("removed leftover instances %s", [r.instance_id for r in doomed])
        return [r.instance_id for r in doomed]
