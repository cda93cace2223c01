"""What a service function is given: who asks, where, inside which transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from kiln.amis.stores import ImageStores
from kiln.auth.secretbox import SecretBox
from kiln.core.pagination import PageTokens
from kiln.iam import Principal
from kiln.objectstore import Resolver
from kiln.store.resources import Scope


@dataclass(frozen=True)
class Caller:
    """The authenticated principal (the IAM layer fills arn and kind)."""

    account: str
    arn: str
    kind: str = "root"
    principal: Principal | None = None


@dataclass
class RequestContext:
    caller: Caller
    region: str
    request_id: str
    session: Session
    now: dt.datetime
    tokens: PageTokens
    operation: str = ""
    box: SecretBox | None = None
    objects: Resolver | None = None
    regions: frozenset[str] | None = None
    """The regions this Kiln knows (KILN_REGIONS); None: the standard table."""
    data_dir: Path | None = None
    images: ImageStores | None = None
    """Where each region keeps its AMI disks (KILN_IMAGE_STORES)."""

    @property
    def account(self) -> str:
        return self.caller.account

    @property
    def scope(self) -> Scope:
        return Scope(self.caller.account, self.region)
