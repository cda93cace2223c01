"""The AMIs an image left behind: DeleteImage removes the image resource, not the AMIs it
distributed (as AWS does), and lifecycle policies still find and act on them.

A leftover is the set of AMIs (every region and account) whose `image_arn` names an image of
the policy's account and region that no longer exists. It stands in for its image:

- its name and version come from the image ARN (`image/<name>/<version>/<build>`), so a
  policy's `recipes` selection (name + semanticVersion wildcard) matches it as it matched the
  image; a `tagMap` selection matches the tags of the AMIs the policy's account owns (the tags
  the distribution put on them);
- its age is the creation time of its oldest AMI; it counts as one image of its recipe name
  for COUNT rules, beside the images that still exist;
- its state is what its AMIs show: DISABLED when all are disabled, DEPRECATED when all carry a
  deprecation time, AVAILABLE otherwise; a rule never moves it back;
- AMI exclusion rules read the AMIs themselves (public, regions, accounts shared with, tags);
- a rule acts on it only when its action includes AMIs: there is no image left to change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kiln.amis import registry
from kiln.amis.registry import DISABLED, Ami
from kiln.core.arn import Arn, ArnError, parse_imagebuilder_arn
from kiln.core.clock import as_utc
from kiln.core.semver import Version
from kiln.engine.status import ImageStatus
from kiln.services.imagebuilder.lifecycle_rules import ami_exclusion, any_tag, selects
from kiln.store import resources


@dataclass(frozen=True)
class Leftover:
    """The AMIs of a deleted image."""

    arn: str
    name: str
    version: Version
    account: str
    amis: tuple[Ami, ...]

    @property
    def created(self) -> dt.datetime:
        return as_utc(min(ami.created_at for ami in self.amis))

    @property
    def tags(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for ami in self.amis:
            if ami.account == self.account:
                found.update(ami.tags)
        return found

    def status(self, now: dt.datetime) -> ImageStatus:
        if all(ami.state == DISABLED for ami in self.amis):
            return ImageStatus.DISABLED
        if all(ami.deprecated(now) for ami in self.amis):
            return ImageStatus.DEPRECATED
        return ImageStatus.AVAILABLE


def leftovers(
    session: Session, *, account: str, region: str, selection: Mapping[str, Any]
) -> list[Leftover]:
    """The leftovers of the account's deleted images in the region that `selection` picks."""
    prefix = str(Arn("aws", "imagebuilder", region, account, "image/"))
    groups: dict[str, list[Ami]] = {}
    for ami in registry.built_under(session, prefix):
        if ami.image_arn:
            groups.setdefault(ami.image_arn, []).append(ami)
    found = []
    for arn, amis in groups.items():
        leftover = _leftover(arn, account, amis)
        if leftover is None or resources.by_arn(session, arn) is not None:
            continue
        if selects(selection, name=leftover.name, version=leftover.version, tags=leftover.tags):
            found.append(leftover)
    return found


def _leftover(arn: str, account: str, amis: list[Ami]) -> Leftover | None:
    try:
        parsed = parse_imagebuilder_arn(arn, resource_type="image")
    except ArnError:
        return None
    if parsed.version is None or not parsed.version.is_exact:
        return None
    return Leftover(
        arn=arn, name=parsed.name, version=parsed.version.exact(), account=account,
        amis=tuple(amis),
    )  # fmt: skip


def leftover_excluded(leftover: Leftover, rules: Mapping[str, Any] | None) -> str | None:
    """Why the exclusion rules protect the leftover's AMIs, or None."""
    if not rules:
        return None
    tags = rules.get("tagMap")
    if tags and any_tag(leftover.tags, tags):
        return "the image's AMIs have a tag of the exclusion rules"
    amis = rules.get("amis")
    if not amis:
        return None
    accounts = {ami.account for ami in leftover.amis} | {
        p["UserId"] for ami in leftover.amis for p in ami.launch_permissions if p.get("UserId")
    }
    return ami_exclusion(
        amis,
        public="the image has a public AMI" if any(a.public for a in leftover.amis) else None,
        regions={ami.region for ami in leftover.amis},
        accounts=accounts,
        tags=leftover.tags,
    )
