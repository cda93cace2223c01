"""The Amazon-managed components (owner ``aws``) as rows, seeded per region on first use.

The documents ship as YAML in ``kiln/toe/managed/``. As with managed workflows, rows rather
than data served on the side: every reader of versioned resources (GetComponent with
``.../aws:component/update-linux/x.x.x``, ListComponents with ``owner=Amazon``, build-version
listings, recipe references) already works on rows. Seeding is idempotent and checked per name,
so a later Kiln that ships another managed component adds it on first use; a concurrent first
use that loses the race rolls back its savepoint and keeps the winner's row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources as package_files
from types import MappingProxyType

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.core.arn import imagebuilder_arn
from kiln.core.semver import Version
from kiln.services.imagebuilder.components import component_body
from kiln.services.imagebuilder.versions import AMAZON_OWNER
from kiln.store import resources
from kiln.store.resources import Scope
from kiln.toe import Document, parse_document

RESOURCE = "component"
MANAGED_VERSION = "1.0.0"
MANAGED_BUILD = 1
MANAGED_COMPONENTS: Mapping[str, str] = MappingProxyType(
    {"update-linux": "Linux", "reboot-linux": "Linux", "hello-world-linux": "Linux"}
)
"""Name (and file kiln/toe/managed/<name>.yaml) -> platform."""


@dataclass(frozen=True)
class ManagedComponent:
    name: str
    platform: str
    data: str
    document: Document


@cache
def managed_components() -> Mapping[str, ManagedComponent]:
    """Every managed component, parsed and validated."""
    folder = package_files.files("kiln.toe") / "managed"
    found: dict[str, ManagedComponent] = {}
    for name, platform in MANAGED_COMPONENTS.items():
        data = (folder / f"{name}.yaml").read_text(encoding="utf-8")
        document = parse_document(data, platform=platform, path=f"managed/{name}.yaml")
        found[name] = ManagedComponent(name, platform, data, document)
    return MappingProxyType(found)


def ensure_managed_components(session: Session, region: str, now: dt.datetime) -> None:
    """Make sure every managed component has its row in `region`."""
    seeded = {
        row.arn_name
        for row in resources.listing(
            session, resource_type=RESOURCE, region=region, owners=[AMAZON_OWNER]
        )
    }
    for name, managed in managed_components().items():
        if name in seeded:
            continue
        try:
            with session.begin_nested():
                _seed(session, region, now, managed)
        except IntegrityError:
            continue  # another request seeded it first


def _seed(session: Session, region: str, now: dt.datetime, managed: ManagedComponent) -> None:
    arn = imagebuilder_arn(
        region=region,
        account=AMAZON_OWNER,
        resource_type=RESOURCE,
        name=managed.name,
        version=MANAGED_VERSION,
        build=MANAGED_BUILD,
    )
    resources.add(
        session,
        Scope(AMAZON_OWNER, region),
        resource_type=RESOURCE,
        arn=str(arn),
        name=managed.name,
        arn_name=arn.name,
        body=component_body(
            arn=str(arn),
            name=managed.name,
            version=MANAGED_VERSION,
            document=managed.document,
            data=managed.data,
            platform=managed.platform,
            owner=AMAZON_OWNER,
            now=now,
            description=managed.document.description or None,
        ),
        tags={},
        now=now,
        version=Version.parse(MANAGED_VERSION),
        build=MANAGED_BUILD,
        owner=AMAZON_OWNER,
    )
