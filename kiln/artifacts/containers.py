"""Kiln's own containers-storage: the config files podman, buildah and skopeo read, and their env.

Kiln never edits /etc/containers. It writes `containers.conf`, `storage.conf` and
`registries.conf` under its state directory and points every tool at them with CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF, so a fresh machine works as soon as the
Debian packages are installed. What the files pin, and why (spec/feasibility.md):

- runtime `runc`: crun refuses hybrid (v1) cgroups;
- default ulimits nofile=1024:1024 and nproc=4096:4096: without CAP_SYS_RESOURCE podman's
  defaults (above the current hard limits) fail with setrlimit EPERM;
- cgroupfs cgroup manager and file events logger: PID 1 is not systemd;
- no unqualified-search registries: nothing is ever pulled from the internet by short name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln import process

ULIMITS = ("nofile=1024:1024", "nproc=4096:4096")
RUNTIME = "runc"


def _containers_conf() -> str:
    ulimits = ", ".join(f'"{u}"' for u in ULIMITS)
    return (
        "# Written by Kiln; regenerated on start. Do not edit.\n"
        "[containers]\n"
        f"default_ulimits = [{ulimits}]\n"
        'log_driver = "k8s-file"\n'
        "\n[engine]\n"
        f'runtime = "{RUNTIME}"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


def _storage_conf(graphroot: Path, runroot: Path) -> str:
    return (
        "# Written by Kiln; regenerated on start. Do not edit.\n"
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{graphroot}"\n'
        f'runroot = "{runroot}"\n'
    )


_REGISTRIES_CONF = (
    "# Written by Kiln; regenerated on start. Do not edit.\n"
    "unqualified-search-registries = []\n"
    'short-name-mode = "disabled"\n'
)


def _write_if_changed(path: Path, text: str) -> None:
    """Atomically replace path with text (safe when several processes start at once)."""
    if path.exists() and path.read_text() == text:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ContainerStorage:
    """A Kiln-owned image store for podman/buildah/skopeo, rooted at `root`."""

    root: Path

    @classmethod
    def at(cls, root: Path) -> ContainerStorage:
        """Create (or refresh) the config files under root and return the store."""
        root = root.resolve()
        store = cls(root)
        for d in (root, store.graphroot, store.runroot, store.locks):
            d.mkdir(parents=True, exist_ok=True)
        _write_if_changed(store.containers_conf, _containers_conf())
        _write_if_changed(store.storage_conf, _storage_conf(store.graphroot, store.runroot))
        _write_if_changed(store.registries_conf, _REGISTRIES_CONF)
        return store

    @property
    def graphroot(self) -> Path:
        return self.root / "storage"

    @property
    def runroot(self) -> Path:
        return self.root / "run"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def containers_conf(self) -> Path:
        return self.root / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.root / "storage.conf"

    @property
    def registries_conf(self) -> Path:
        return self.root / "registries.conf"

    def env(self) -> dict[str, str]:
        """The process environment for podman/buildah/skopeo against this store."""
        env = dict(os.environ)
        env.update(
            CONTAINERS_CONF=str(self.containers_conf),
            CONTAINERS_STORAGE_CONF=str(self.storage_conf),
            CONTAINERS_REGISTRIES_CONF=str(self.registries_conf),
        )
        return env

    def run(
        self, argv: Sequence[str], *, timeout: float, check: bool = True, input: bytes | None = None
    ) -> process.Completed:
        """Run podman/buildah/skopeo (argv[0]) against this store."""
        return process.run(argv, timeout=timeout, check=check, input=input, env=self.env())

    def image_exists(self, name: str) -> bool:
        done = self.run(["podman", "image", "exists", name], timeout=60, check=False)
        return done.returncode == 0
