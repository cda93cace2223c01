"""The Instance port: a build or test environment the engine launches, drives and terminates.

Implementations are named by mechanism: PodmanInstance (containers), QemuInstance (VMs),
FakeInstance (tests). The engine sees only `Launcher.launch(spec) -> Instance`; the component
runner sees only `instance.communicator`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from kiln.core.errors import BuildError
from kiln.toe.communicator import Communicator

DEFAULT_INSTANCE_TYPE = "t3.micro"


class InstanceError(BuildError):
    """An instance could not be launched, controlled, captured or terminated."""


def new_instance_id() -> str:
    """An EC2-shaped instance id: `i-` and 17 hex digits."""
    return "i-" + secrets.token_hex(9)[:17]


@dataclass(frozen=True)
class LaunchSpec:
    """What to launch. `labels` are recorded on the instance (like EC2 tags), not in images."""

    image: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    tls_verify: bool = True  # when `image` is pulled from a registry

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))


class Instance(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def communicator(self) -> Communicator: ...

    def reboot(self) -> None:
        """Restart the instance; returns once it accepts exec again. Its filesystem survives."""
        ...

    def terminate(self) -> None:
        """Destroy the instance. Idempotent."""
        ...


class Launcher(Protocol):
    def launch(self, spec: LaunchSpec) -> Instance: ...


@contextmanager
def launched(launcher: Launcher, spec: LaunchSpec) -> Iterator[Instance]:
    """Launch an instance and terminate it on the way out, whatever happens inside."""
    instance = launcher.launch(spec)
    try:
        yield instance
    finally:
        instance.terminate()
