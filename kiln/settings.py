"""Kiln's settings: one frozen object fed by one declarative table (env var, default, help)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


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
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8780
    region: str = "us-east-1"

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
        if "port" in values:
            values["port"] = int(values["port"])
        return replace(settings, **values)
