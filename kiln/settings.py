"""Kiln's settings: one frozen object fed by one declarative table (env var, default, help)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kiln.core.errors import ConfigurationError
from kiln.core.regions import known_regions, valid_region_name
from kiln.objectstore.errors import InvalidS3Uri
from kiln.objectstore.uri import BucketPrefix, parse_s3_prefix


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
    Setting(
        "regions",
        "KILN_REGIONS",
        "the regions this Kiln knows, comma-separated (the serving region among them) "
        "[AWS's commercial regions]",
    ),
    Setting(
        "image_stores",
        "KILN_IMAGE_STORES",
        "AMI disk store per region, a directory or an existing bucket: "
        "'eu-west-1=/srv/amis-eu,eu-central-1=s3://kiln-amis/central,...' (the bucket is served "
        "as KILN_S3_ENDPOINT / KILN_S3_BUCKETS say; its disks are cached under "
        "<data_dir>/amis-cache); a region without one keeps its disks under <data_dir>/amis",
    ),
    Setting(
        "image_cache_gib",
        "KILN_IMAGE_CACHE_GIB",
        "GiB of AMI disks from bucket image stores kept on local disk, per bucket; the least "
        "recently used go first [64]",
    ),
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
    regions: str | None = None
    image_stores: str | None = None
    image_cache_gib: int = 64

    def region_names(self) -> frozenset[str]:
        """KILN_REGIONS (or the standard table); the serving region must be one of them."""
        if not (self.regions or "").strip():
            names = known_regions()
        else:
            names = frozenset(r.strip() for r in (self.regions or "").split(",") if r.strip())
            bad = sorted(name for name in names if not valid_region_name(name))
            if bad:
                raise ConfigurationError(
                    f"KILN_REGIONS names {', '.join(bad)}, which are not region names",
                    hint="example: KILN_REGIONS=us-east-1,eu-west-1",
                )
        if self.region not in names:
            raise ConfigurationError(
                f"the serving region {self.region} is not among the regions Kiln knows",
                hint=f"add it to KILN_REGIONS or set KILN_REGION to one of {sorted(names)[:5]}",
            )
        return names

    def image_cache_bytes(self) -> int:
        """KILN_IMAGE_CACHE_GIB in bytes (at least 1 GiB)."""
        if self.image_cache_gib < 1:
            raise ConfigurationError(
                f"KILN_IMAGE_CACHE_GIB must be at least 1, not {self.image_cache_gib}",
                hint="example: KILN_IMAGE_CACHE_GIB=64",
            )
        return self.image_cache_gib * 1024**3

    def image_store_map(self) -> dict[str, Path | BucketPrefix]:
        """KILN_IMAGE_STORES as {region: directory or s3:// bucket and prefix}, each region a
        known one (whether the bucket exists is checked when Kiln opens the stores)."""
        known = self.region_names()
        found: dict[str, Path | BucketPrefix] = {}
        for region, location in _pairs(self.image_stores, "KILN_IMAGE_STORES", "region=/path"):
            if region not in known:
                raise ConfigurationError(
                    f"KILN_IMAGE_STORES names the region {region}, which Kiln does not know",
                    hint="add it to KILN_REGIONS",
                )
            found[region] = _image_store(region, location)
        return found

    def registry_map(self) -> dict[str, str]:
        """KILN_REGISTRIES as {region: host:port}."""
        return dict(_pairs(self.registries, "KILN_REGISTRIES", "region=host:port"))

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
        for number in ("port", "build_workers", "image_cache_gib"):
            if number in values:
                try:
                    values[number] = int(values[number])
                except ValueError as exc:
                    raise ConfigurationError(
                        f"{number} must be a number, not {values[number]!r}"
                    ) from exc
        return replace(settings, **values)


def _image_store(region: str, location: str) -> Path | BucketPrefix:
    if location.startswith("s3://"):
        try:
            return parse_s3_prefix(location)
        except InvalidS3Uri as exc:
            raise ConfigurationError(
                f"KILN_IMAGE_STORES: {region}={location} is not a usable bucket location: "
                f"{exc.message}",
                hint="example: KILN_IMAGE_STORES=eu-west-1=s3://kiln-amis/eu",
            ) from exc
    if "://" in location:
        raise ConfigurationError(
            f"KILN_IMAGE_STORES: {region}={location} is neither a directory nor an s3:// bucket",
            hint="example: KILN_IMAGE_STORES=eu-west-1=/srv/kiln/amis-eu,"
            "eu-central-1=s3://kiln-amis/central",
        )
    return Path(location).expanduser()


def _pairs(text: str | None, variable: str, form: str) -> list[tuple[str, str]]:
    """`a=b,c=d` settings as pairs; an entry without both sides is a configuration error."""
    found = []
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigurationError(
                f"{variable} entry {entry!r} is not {form}",
                hint=f"example: {variable}=us-east-1={form.split('=', 1)[1]}",
            )
        found.append((key.strip(), value.strip()))
    return found
