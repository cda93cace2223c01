"""FakeBuildHost and FakeInstance: the BuildHost port in memory, for the engine's tests.

Each instance's communicator is a `kiln.toe.FakeCommunicator` (scripted exit codes). `hold`
makes every exec wait on an event, so a test can stop a build in the middle of a step.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kiln.engine.host import PublishTarget
from kiln.instances.base import InstanceError, new_instance_id
from kiln.toe.communicator import ExecOutcome, OutputSink
from kiln.toe.fake import FakeCommunicator


@dataclass
class _HeldCommunicator(FakeCommunicator):
    """A FakeCommunicator whose execs block while `gate` is clear (when one is given)."""

    gate: threading.Event | None = None
    entered: threading.Event | None = None
    killed: threading.Event = field(default_factory=threading.Event)

    def exec(self, argv: Sequence[str], *, on_output: OutputSink, timeout: float | None,
             env: Mapping[str, str] | None = None, cwd: str | None = None,
             stdin: bytes | None = None) -> ExecOutcome:  # fmt: skip
        if self.killed.is_set():
            return ExecOutcome(exit_code=137)
        if self.gate is not None:
            if self.entered is not None:
                self.entered.set()
            while not self.gate.wait(0.05):
                if self.killed.is_set():
                    return ExecOutcome(exit_code=137)
        return super().exec(argv, on_output=on_output, timeout=timeout, env=env, cwd=cwd,
                            stdin=stdin)  # fmt: skip


@dataclass
class FakeInstance:
    instance_id: str
    image: str
    instance_type: str
    labels: Mapping[str, str]
    comm: _HeldCommunicator = field(default_factory=_HeldCommunicator)
    terminated: bool = False
    terminations: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.instance_id

    @property
    def communicator(self) -> FakeCommunicator:
        return self.comm

    def reboot(self) -> None:
        self.comm.reboot()

    def terminate(self) -> None:
        if not self.terminated:
            self.terminations.append(self.instance_id)
        self.terminated = True
        self.comm.killed.set()


@dataclass
class FakeBuildHost:
    """Records launches, commits and publications; `fail_launch` makes launches fail."""

    instances: dict[str, FakeInstance] = field(default_factory=dict)
    commits: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    published: list[tuple[str, PublishTarget]] = field(default_factory=list)
    removed_images: list[str] = field(default_factory=list)
    fail_launch: str | None = None
    scripts: list[tuple[tuple[str, ...], int, str | None]] = field(default_factory=list)
    gate: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    images: set[str] = field(default_factory=set)
    terminations: list[str] = field(default_factory=list)

    def script(self, prefix: Sequence[str], exit_code: int, *, image: str | None = None) -> None:
        """Instances launched from now (from `image`, if given) answer execs starting with
        prefix with exit_code."""
        self.scripts.append((tuple(prefix), exit_code, image))

    def launch(self, *, image: str, instance_type: str, labels: Mapping[str, str]) -> FakeInstance:
        if self.fail_launch:
            raise InstanceError(self.fail_launch)
        instance = FakeInstance(
            new_instance_id(), image, instance_type, dict(labels), terminations=self.terminations
        )
        instance.comm.gate = self.gate
        instance.comm.entered = self.entered
        for prefix, code, only in self.scripts:
            if only is None or only == image:
                instance.comm.on(prefix, code)
        self.instances[instance.id] = instance
        return instance

    def attach(self, instance_id: str) -> FakeInstance | None:
        instance = self.instances.get(instance_id)
        return instance if instance is not None and not instance.terminated else None

    def commit(self, instance_id: str, *, image: str, changes: Sequence[str]) -> str:
        if self.attach(instance_id) is None:
            raise InstanceError(f"cannot commit {instance_id}: it is not running")
        self.commits.append((instance_id, image, tuple(changes)))
        self.images.add(image)
        return "sha256:" + format(len(self.commits), "064x")

    def resolve_parent(self, reference: str) -> str:
        return "localhost/kiln/debian:12" if reference.startswith("debian:") else reference

    def publish(self, image: str, target: PublishTarget) -> list[str]:
        self.published.append((image, target))
        return target.uris()

    def remove_instances(self, selector: str) -> None:
        key, _, value = selector.partition("=")
        for instance in self.instances.values():
            if instance.labels.get(key) == value:
                instance.terminate()

    def remove_image(self, image: str) -> None:
        self.removed_images.append(image)
        self.images.discard(image)

    def shell_hint(self, instance_id: str) -> str:
        return f"fake exec -it {instance_id} bash"

    def running(self) -> list[FakeInstance]:
        return [i for i in self.instances.values() if not i.terminated]
