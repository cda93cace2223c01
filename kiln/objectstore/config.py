"""Which backend serves which bucket: a default backend plus per-bucket overrides.

By default every bucket is a folder under <data_dir>/objects. The environment can send all buckets
to one S3 server (KILN_S3_ENDPOINT, KILN_S3_ACCESS_KEY, KILN_S3_SECRET_KEY, KILN_S3_REGION) and
single buckets elsewhere with KILN_S3_BUCKETS, a JSON object from bucket name to either "local",
an endpoint URL, or {"endpoint_url", "access_key", "secret_key", "region", "addressing_style"};
fields a bucket leaves out come from the KILN_S3_* values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.core.errors import ConfigurationError
from kiln.objectstore.errors import InvalidName
from kiln.objectstore.names import check_bucket

ENV_ENDPOINT = "KILN_S3_ENDPOINT"
ENV_ACCESS_KEY = "KILN_S3_ACCESS_KEY"
ENV_SECRET_KEY = "KILN_S3_SECRET_KEY"
ENV_REGION = "KILN_S3_REGION"
ENV_BUCKETS = "KILN_S3_BUCKETS"
OBJECTS_FOLDER = "objects"
ADDRESSING_STYLES = ("path", "virtual", "auto")
_S3_FIELDS = ("endpoint_url", "access_key", "secret_key", "region", "addressing_style")


@dataclass(frozen=True)
class LocalBackend:
    root: Path


@dataclass(frozen=True)
class S3Backend:
    endpoint_url: str | None
    """None means AWS S3 itself."""
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    addressing_style: str = "path"


Backend = LocalBackend | S3Backend


@dataclass(frozen=True)
class ObjectStoreConfig:
    default: Backend
    buckets: Mapping[str, Backend] = field(default_factory=dict)

    def backend_for(self, bucket: str) -> Backend:
        return self.buckets.get(bucket, self.default)

    @classmethod
    def local(cls, data_dir: Path) -> ObjectStoreConfig:
        """Every bucket a folder under <data_dir>/objects."""
        return cls(default=LocalBackend(Path(data_dir) / OBJECTS_FOLDER))

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, data_dir: Path, region: str = "us-east-1"
    ) -> ObjectStoreConfig:
        """The configuration KILN_S3_* describe; one ConfigurationError lists every fault."""
        problems: list[str] = []
        local = LocalBackend(Path(data_dir) / OBJECTS_FOLDER)
        shared = {
            "endpoint_url": environ.get(ENV_ENDPOINT) or None,
            "access_key": environ.get(ENV_ACCESS_KEY) or None,
            "secret_key": environ.get(ENV_SECRET_KEY) or None,
            "region": environ.get(ENV_REGION) or region,
        }
        default: Backend = local
        if shared["endpoint_url"] or shared["access_key"] or shared["secret_key"]:
            default = _s3_backend(shared, shared, f"the {ENV_ENDPOINT} backend", problems) or local
        buckets: dict[str, Backend] = {}
        raw = environ.get(ENV_BUCKETS, "").strip()
        if raw:
            try:
                overrides = json.loads(raw)
            except ValueError as exc:
                overrides = None
                problems.append(f"{ENV_BUCKETS} is not JSON: {exc}")
            if overrides is not None and not isinstance(overrides, dict):
                problems.append(f"{ENV_BUCKETS} must be a JSON object of bucket name to backend")
            elif overrides:
                buckets = _overrides(overrides, shared, local, problems)
        if problems:
            raise ConfigurationError(
                "the object store configuration is invalid: " + "; ".join(problems),
                hint=f"check {ENV_ENDPOINT}, {ENV_ACCESS_KEY}, {ENV_SECRET_KEY} and {ENV_BUCKETS}",
            )
        return cls(default=default, buckets=buckets)


def _overrides(
    overrides: Mapping[str, Any],
    shared: Mapping[str, str | None],
    local: LocalBackend,
    problems: list[str],
) -> dict[str, Backend]:
    buckets: dict[str, Backend] = {}
    for bucket, spec in overrides.items():
        where = f"{ENV_BUCKETS}[{bucket!r}]"
        try:
            check_bucket(bucket)
        except InvalidName as exc:
            problems.append(f"{where}: {exc}")
            continue
        if spec == "local":
            buckets[bucket] = local
            continue
        if isinstance(spec, str):
            spec = {"endpoint_url": spec}
        if not isinstance(spec, dict):
            problems.append(f'{where} must be "local", an endpoint URL or an object')
            continue
        backend = _s3_backend(spec, shared, where, problems)
        if backend is not None:
            buckets[bucket] = backend
    return buckets


def _s3_backend(
    spec: Mapping[str, Any], shared: Mapping[str, str | None], where: str, problems: list[str]
) -> S3Backend | None:
    found = len(problems)
    unknown = sorted(set(spec) - set(_S3_FIELDS))
    if unknown:
        problems.append(f"{where} has unknown fields {', '.join(unknown)}")
    values = {name: spec.get(name) or shared.get(name) for name in _S3_FIELDS}
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}: {name} must be a string")
    endpoint = values["endpoint_url"]
    if isinstance(endpoint, str) and not endpoint.startswith(("http://", "https://")):
        problems.append(f"{where}: endpoint {endpoint!r} must be an http:// or https:// URL")
    if not values["access_key"] or not values["secret_key"]:
        problems.append(f"{where} needs an access key and a secret key")
    style = values["addressing_style"] or "path"
    if style not in ADDRESSING_STYLES:
        problems.append(f"{where}: addressing_style must be one of {', '.join(ADDRESSING_STYLES)}")
    if len(problems) > found:
        return None
    return S3Backend(
        endpoint_url=endpoint,
        access_key=str(values["access_key"]),
        secret_key=str(values["secret_key"]),
        region=str(values["region"] or "us-east-1"),
        addressing_style=str(style),
    )
