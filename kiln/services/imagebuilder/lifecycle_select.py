"""Which images a lifecycle policy acts on, and with which action.

A policy covers the images of its account and region of its resource type (AMI images for
AMI_IMAGE, container images for CONTAINER_IMAGE) that are AVAILABLE, DEPRECATED or DISABLED,
chosen by recipe (name and a version that matches the semanticVersion wildcard) or by tags (any
of the tagMap's pairs). Each rule (policy detail) looks at the images of one recipe name newest
first, leaves out those its exclusion rules protect, and impacts:

- COUNT n: every image past the n newest;
- AGE v unit: every image older than v units (a day, 7, 30 or 365 days), keeping the
  retainAtLeast newest whatever their age.

An image impacted by several rules gets the most severe action (DELETE > DISABLE > DEPRECATE);
a rule never moves an image back (a DISABLED image is not deprecated again).

AMI policies also cover what deleted images left behind (their AMIs; see
kiln.services.imagebuilder.lifecycle_leftovers): they are grouped, counted and aged with the
images of their recipe name, and acted on when the rule includes AMIs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kiln.core.clock import as_utc
from kiln.engine.status import ImageStatus, status_of
from kiln.services.imagebuilder.lifecycle_leftovers import Leftover, leftover_excluded, leftovers
from kiln.services.imagebuilder.lifecycle_rules import ami_exclusion, any_tag, selects
from kiln.services.imagebuilder.policy_documents import shared_accounts
from kiln.services.imagebuilder.versions import version_of
from kiln.store import resources
from kiln.store.schema import ResourceRow

ACTION_TARGET = {
    "AVAILABLE": ImageStatus.AVAILABLE,
    "DEPRECATE": ImageStatus.DEPRECATED,
    "DISABLE": ImageStatus.DISABLED,
    "DELETE": ImageStatus.DELETED,
}
SEVERITY = {
    ImageStatus.AVAILABLE: 0,
    ImageStatus.DEPRECATED: 1,
    ImageStatus.DISABLED: 2,
    ImageStatus.DELETED: 3,
}
IMAGE_TYPES = {"AMI_IMAGE": "AMI", "CONTAINER_IMAGE": "DOCKER"}
_UNIT_DAYS = {"DAYS": 1, "WEEKS": 7, "MONTHS": 30, "YEARS": 365}


Subject = ResourceRow | Leftover
"""What a policy acts on: an image, or the AMIs a deleted image left."""


@dataclass(frozen=True)
class Impact:
    """One image (or a deleted image's AMIs) a policy acts on: the action, what else it
    touches, and why."""

    subject: Subject
    action: str
    include: Mapping[str, bool]
    reason: str

    @property
    def arn(self) -> str:
        return self.subject.arn


def impacts(
    session: Session, policy: Mapping[str, Any], *, account: str, region: str, now: dt.datetime
) -> list[Impact]:
    """What a policy (its stored body) does now, one Impact per image, oldest image first."""
    resource_type = str(policy["resourceType"])
    selection = policy["resourceSelection"]
    covered: list[Subject] = list(
        covered_images(
            session, account=account, region=region, resource_type=resource_type,
            selection=selection,
        )
    )  # fmt: skip
    if resource_type == "AMI_IMAGE":
        covered += leftovers(session, account=account, region=region, selection=selection)
    groups: dict[str, list[Subject]] = {}
    for subject in covered:
        groups.setdefault(subject.name, []).append(subject)
    chosen: dict[str, Impact] = {}
    for detail in policy["policyDetails"]:
        action = str(detail["action"]["type"])
        target = ACTION_TARGET[action]
        include = detail["action"].get("includeResources") or {}
        rules = detail.get("exclusionRules")
        for group in groups.values():
            kept = [subject for subject in group if not _excluded(subject, rules, now)]
            for subject, why in _filtered(newest_first(kept), detail["filter"], now):
                if SEVERITY.get(_status(subject, now), 0) >= SEVERITY[target]:
                    continue
                if isinstance(subject, Leftover) and not include.get("amis"):
                    continue
                before = chosen.get(subject.arn)
                if before is None or SEVERITY[ACTION_TARGET[before.action]] < SEVERITY[target]:
                    chosen[subject.arn] = Impact(
                        subject=subject, action=action, include=include, reason=why
                    )
    return sorted(chosen.values(), key=lambda impact: (created(impact.subject), impact.arn))


def _status(subject: Subject, now: dt.datetime) -> ImageStatus:
    return subject.status(now) if isinstance(subject, Leftover) else status_of(subject)


def _excluded(subject: Subject, rules: Mapping[str, Any] | None, now: dt.datetime) -> str | None:
    if isinstance(subject, Leftover):
        return leftover_excluded(subject, rules)
    return excluded(subject, rules, now)


def covered_images(
    session: Session,
    *,
    account: str,
    region: str,
    resource_type: str,
    selection: Mapping[str, Any],
) -> list[ResourceRow]:
    image_type = IMAGE_TYPES[resource_type]
    rows = resources.listing(session, resource_type="image", region=region, owners=[account])
    return [
        row
        for row in rows
        if row.body.get("type", "AMI") == image_type
        and status_of(row) in SEVERITY
        and _selected(row, selection)
    ]


def _selected(row: ResourceRow, selection: Mapping[str, Any]) -> bool:
    return selects(selection, name=row.name, version=version_of(row), tags=row.tags)


def _filtered(
    rows: list[Subject], spec: Mapping[str, Any], now: dt.datetime
) -> Iterable[tuple[Subject, str]]:
    value = int(spec["value"])
    if spec["type"] == "COUNT":
        for row in rows[value:]:
            yield row, f"more than {value} newer images of recipe '{row.name}'"
        return
    unit = str(spec.get("unit") or "DAYS")
    cutoff = now - dt.timedelta(days=value * _UNIT_DAYS[unit])
    for row in rows[int(spec.get("retainAtLeast") or 0) :]:
        if created(row) < cutoff:
            yield row, f"older than {value} {unit.lower()}"


def excluded(row: ResourceRow, rules: Mapping[str, Any] | None, now: dt.datetime) -> str | None:
    """Why the exclusion rules protect the image, or None."""
    if not rules:
        return None
    tags = rules.get("tagMap")
    if tags and any_tag(row.tags, tags):
        return "the image has a tag of the exclusion rules"
    amis = rules.get("amis")
    return _ami_exclusion(row, amis, now) if amis else None


def _ami_exclusion(row: ResourceRow, rules: Mapping[str, Any], now: dt.datetime) -> str | None:
    """AMI rules, as far as Kiln knows: public by resource policy, distribution regions and
    accounts, AMI tags of the distribution. Kiln records no instance launches, so
    `lastLaunched` never protects an image."""
    del now
    outputs = (row.body.get("outputResources") or {}).get("amis") or []
    accounts = shared_accounts(row.policy) | {
        str(ami["accountId"]) for ami in outputs if ami.get("accountId")
    }
    return ami_exclusion(
        rules,
        public="the image is public" if _is_public(row.policy) else None,
        regions={str(ami.get("region")) for ami in outputs},
        accounts=accounts,
        tags=_ami_tags(row),
    )


def _ami_tags(row: ResourceRow) -> dict[str, str]:
    found: dict[str, str] = {}
    distribution = row.body.get("distributionConfiguration") or {}
    for entry in distribution.get("distributions") or []:
        found.update((entry.get("amiDistributionConfiguration") or {}).get("amiTags") or {})
    return found


def _is_public(policy: str | None) -> bool:
    if not policy:
        return False
    try:
        doc = json.loads(policy)
    except ValueError:
        return False
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        names = principal.get("AWS") if isinstance(principal, dict) else principal
        if names == "*" or (isinstance(names, list) and "*" in names):
            return True
    return False


def newest_first(subjects: Iterable[Subject]) -> list[Subject]:
    return sorted(subjects, key=lambda subject: (created(subject), subject.arn), reverse=True)


def created(subject: Subject) -> dt.datetime:
    """When the image was created (its dateCreated; the row's time if that is unreadable; a
    leftover's oldest AMI)."""
    if isinstance(subject, Leftover):
        return subject.created
    row = subject
    text = row.body.get("dateCreated")
    if isinstance(text, str):
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    return as_utc(row.created_at)
