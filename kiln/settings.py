"""Kiln's settings: one frozen object fed by one declarative table (env var, default, help)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kiln.core.errors import ConfigurationError


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kiln"


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    help: str


SETTINGS = (
    Setting("data_dir", "KILN_DATA_DIR", "where Kiln keeps its database, keys, logs and images"),
    Setting("database_url", "KILN_DATABASE_URL", "SQLAlchemy URL; default SQLite in the data dir"),
    Setting("host", "KILN_HOST", "address the API listens on"),
    Setting("port", "KILN_PORT", "port the API listens on"),
    Setting("region", "KILN_REGION", "the region this server serves by default"),
    Setting(
        "containers_dir",
        "KILN_CONTAINERS_DIR",
        "podman storage for build instances and images [<data_dir>/containers]",
    ),
    Setting(
        "registries",
        "KILN_REGISTRIES",
        "container registry per region: 'us-east-1=127.0.0.1:5000,eu-west-1=...'; a region "
        "without one gets OCI layouts under <data_dir>/registry",
    ),
    Setting("build_workers", "KILN_BUILD_WORKERS", "builds that run at the same time [2]"),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8780
    region: str = "us-east-1"
    containers_dir: Path | None = None
    registries: str | None = None
    build_workers: int = 2

    def registry_map(self) -> dict[str, str]:
        """KILN_REGISTRIES as {region: host:port}."""
        found: dict[str, str] = {}
        for entry in (self.registries or "").split(","):
            if not entry.strip():
                continue
            region, sep, address = entry.partition("=")
            if not sep or not region.strip() or not address.strip():
                raise ConfigurationError(
                    f"KILN_REGISTRIES entry {entry!r} is not region=host:port",
                    hint="example: KILN_REGISTRIES=us-east-1=127.0.0.1:5000",
                )
            found[region.strip()] = address.strip()
        return found

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then environment variables, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        settings = cls(data_dir=default_data_dir())
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if environ.get(setting.env):
                values[setting.name] = environ[setting.env]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"]).expanduser()
        if "containers_dir" in values:
            values["containers_dir"] = Path(values["containers_dir"]).expanduser()
        for number in ("port", "build_workers"):
            if number in values:
                try:
                    values[number] = int(values[number])
                except ValueError as exc:
                    raise ConfigurationError(
                        f"{number} must be a number, not {values[number]!r}"
                    ) from exc
        return replace(settings, **values)
