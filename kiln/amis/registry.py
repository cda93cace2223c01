"""The AMI registry: which machine images exist, whose they are, and who may launch them.

Rows live in the `amis` table (kiln.store.ami_schema); the disk files live in the image store
(kiln.amis.disks). Everything here takes the caller's SQLAlchemy session, so registering an AMI
commits with whatever else the caller records in the same transaction.

Launch permissions are kept as EC2 names them: `{"UserId": "123456789012"}`,
`{"Group": "all"}`, `{"OrganizationArn": ...}`, `{"OrganizationalUnitArn": ...}`. Kiln knows
no AWS Organizations, so organization and OU permissions are recorded and shown but grant no
account anything.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.core.clock import as_utc
from kiln.core.errors import ClientError
from kiln.store.ami_schema import AmiRow

AMI_ID = re.compile(r"^ami-[0-9a-f]{17}$")
AVAILABLE = "available"
PENDING = "pending"
FAILED = "failed"
DISABLED = "disabled"


class DuplicateAmiNameError(ClientError):
    """EC2's InvalidAMIName.Duplicate: an account's AMI names are unique per region."""

    code = "InvalidAMIName.Duplicate"


@dataclass(frozen=True)
class Ami:
    ami_id: str
    account: str
    region: str
    name: str
    disk: str
    created_at: dt.datetime
    state: str = AVAILABLE
    description: str = ""
    image_arn: str | None = None
    source_ami: str | None = None
    source_region: str | None = None
    size: int = 0
    architecture: str = "x86_64"
    kms_key_id: str | None = None
    state_reason: str | None = None
    launch_permissions: tuple[dict[str, str], ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    deprecation_time: dt.datetime | None = None
    """When the AMI is (or was) deprecated, UTC; None when no deprecation is set."""

    def deprecated(self, now: dt.datetime) -> bool:
        """Whether the deprecation time has come."""
        return self.deprecation_time is not None and self.deprecation_time <= now

    @property
    def public(self) -> bool:
        return any(p.get("Group") == "all" for p in self.launch_permissions)

    def launchable_by(self, account: str) -> bool:
        """The owner, an account named in the launch permissions, or anyone if public."""
        if account == self.account or self.public:
            return True
        return any(p.get("UserId") == account for p in self.launch_permissions)


def _ami(row: AmiRow) -> Ami:
    return Ami(
        ami_id=row.ami_id,
        account=row.account,
        region=row.region,
        name=row.name,
        disk=row.disk,
        created_at=row.created_at,
        state=row.state,
        description=row.description or "",
        image_arn=row.image_arn,
        source_ami=row.source_ami,
        source_region=row.source_region,
        size=row.size,
        architecture=row.architecture,
        kms_key_id=row.kms_key_id,
        state_reason=row.state_reason,
        launch_permissions=tuple(dict(p) for p in row.launch_permissions or ()),
        tags=dict(row.tags or {}),
        manifest=dict(row.manifest or {}),
        deprecation_time=_utc(row.deprecation_time),
    )


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else as_utc(moment)


def register(
    session: Session,
    *,
    ami_id: str,
    account: str,
    region: str,
    name: str,
    disk: str,
    now: dt.datetime,
    size: int = 0,
    state: str = AVAILABLE,
    description: str = "",
    image_arn: str | None = None,
    source_ami: str | None = None,
    source_region: str | None = None,
    kms_key_id: str | None = None,
    launch_permissions: Sequence[Mapping[str, str]] = (),
    tags: Mapping[str, str] | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> Ami:
    """Add an AMI; its name must be new for the account in the region."""
    if name_taken(session, account=account, region=region, name=name):
        raise DuplicateAmiNameError(f"AMI name {name} is already in use by AMI in {region}")
    row = AmiRow(
        ami_id=ami_id,
        account=account,
        region=region,
        name=name,
        description=description,
        state=state,
        image_arn=image_arn,
        source_ami=source_ami,
        source_region=source_region,
        disk=disk,
        size=size,
        architecture="x86_64",
        kms_key_id=kms_key_id,
        launch_permissions=[dict(p) for p in launch_permissions],
        tags=dict(tags or {}),
        manifest=dict(manifest or {}),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _ami(row)


def name_taken(session: Session, *, account: str, region: str, name: str) -> bool:
    query = select(AmiRow.ami_id).where(
        AmiRow.account == account, AmiRow.region == region, AmiRow.name == name
    )
    return session.scalars(query).first() is not None


def get(session: Session, ami_id: str) -> Ami | None:
    row = session.get(AmiRow, ami_id)
    return None if row is None else _ami(row)


def in_region(session: Session, region: str) -> list[Ami]:
    """Every AMI of the region, oldest first (callers filter by visibility)."""
    query = select(AmiRow).where(AmiRow.region == region).order_by(AmiRow.created_at)
    return [_ami(row) for row in session.scalars(query)]


def of_image(session: Session, image_arn: str) -> list[Ami]:
    """The AMIs an Image Builder image produced (its build AMI and distributed copies)."""
    query = select(AmiRow).where(AmiRow.image_arn == image_arn).order_by(AmiRow.created_at)
    return [_ami(row) for row in session.scalars(query)]


def built_under(session: Session, arn_prefix: str) -> list[Ami]:
    """AMIs whose Image Builder image ARN starts with `arn_prefix`, oldest first (the AMIs of
    an account's images in a region, including those whose image resource was deleted)."""
    escaped = arn_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(AmiRow)
        .where(AmiRow.image_arn.like(escaped + "%", escape="\\"))
        .order_by(AmiRow.created_at)
    )
    return [_ami(row) for row in session.scalars(query)]


def set_deprecation(session: Session, ami_id: str, at: dt.datetime | None) -> Ami:
    """EnableImageDeprecation (at `at`) or DisableImageDeprecation (None)."""
    return update(session, ami_id, deprecation_time=at)


def disable(session: Session, ami_id: str) -> Ami:
    """DisableImage: the AMI is `disabled` and private (every launch permission dropped)."""
    return update(session, ami_id, state=DISABLED, launch_permissions=[])


def enable(session: Session, ami_id: str) -> Ami:
    """EnableImage: a disabled AMI is `available` again, still private."""
    return update(session, ami_id, state=AVAILABLE)


def update(session: Session, ami_id: str, **changes: Any) -> Ami:
    """Change columns of an AMI (tags, launch_permissions, description, state...)."""
    row = session.get(AmiRow, ami_id)
    if row is None:
        raise KeyError(ami_id)
    for key, value in changes.items():
        if not hasattr(AmiRow, key) or key in ("ami_id", "account", "region", "disk"):
            raise ValueError(f"cannot change {key} of an AMI")
        setattr(row, key, value)
    session.flush()
    return _ami(row)


def deregister(session: Session, ami_id: str) -> str | None:
    """Remove the AMI's row; returns its disk when no other AMI uses that file any more
    (the caller removes the file after the transaction commits)."""
    row = session.get(AmiRow, ami_id)
    if row is None:
        return None
    disk = row.disk
    session.delete(row)
    session.flush()
    users = session.scalar(select(func.count()).select_from(AmiRow).where(AmiRow.disk == disk))
    return disk if not users else None


def disks_in_use(session: Session, disks: Iterable[str]) -> set[str]:
    wanted = set(disks)
    if not wanted:
        return set()
    query = select(AmiRow.disk).where(AmiRow.disk.in_(wanted)).distinct()
    return set(session.scalars(query))
