"""Checking a lifecycle policy's rules (policyDetails) and resource selection.

The model has already checked types, enums and ranges; these are the rules between members:
one rule per action type; AGE filters take a unit, COUNT filters take neither unit nor
retainAtLeast; a rule acts only on resources of the policy's resource type (AMIs and snapshots
for AMI_IMAGE, containers for CONTAINER_IMAGE), snapshots only when deleting; AMI exclusion
rules only for AMI_IMAGE; the selection is by recipes or by tags, not both.

`selects` and `ami_exclusion` say what a selection and AMI exclusion rules make of one image's
facts, for the images that exist and for the AMIs a deleted image left alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from kiln.core.semver import Version, VersionSelector
from kiln.services.imagebuilder.errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
)

AMI_IMAGE = "AMI_IMAGE"
CONTAINER_IMAGE = "CONTAINER_IMAGE"
_KINDS_OF = {AMI_IMAGE: {"amis", "snapshots"}, CONTAINER_IMAGE: {"containers"}}


def selects(
    selection: Mapping[str, Any], *, name: str, version: Version, tags: Mapping[str, str] | None
) -> bool:
    """Whether a resource selection picks an image: by a tag, or by recipe name and version."""
    wanted = selection.get("tagMap")
    if wanted:
        return any_tag(tags, wanted)
    return any(
        recipe["name"] == name and VersionSelector.parse(recipe["semanticVersion"]).matches(version)
        for recipe in selection.get("recipes") or []
    )


def ami_exclusion(
    rules: Mapping[str, Any],
    *,
    public: str | None,
    regions: Set[str],
    accounts: Set[str],
    tags: Mapping[str, str],
) -> str | None:
    """Why AMI exclusion rules protect an image whose AMIs are in `regions`, shared with or
    owned by `accounts` and tagged `tags`, or None; `public` is the reason when it is public.
    Kiln records no instance launches, so `lastLaunched` never protects an image."""
    if rules.get("isPublic") and public:
        return public
    excluded_regions = set(rules.get("regions") or ()) & regions
    if excluded_regions:
        return f"the image has AMIs in excluded regions {', '.join(sorted(excluded_regions))}"
    shared = set(rules.get("sharedAccounts") or ()) & accounts
    if shared:
        return f"the image is shared with excluded accounts {', '.join(sorted(shared))}"
    wanted = rules.get("tagMap")
    if wanted and any_tag(tags, wanted):
        return "the image's AMIs have a tag of the exclusion rules"
    return None


def any_tag(have: Mapping[str, str] | None, wanted: Mapping[str, str]) -> bool:
    have = have or {}
    return any(have.get(key) == value for key, value in wanted.items())


def check_policy(params: dict[str, Any]) -> None:
    resource_type = params["resourceType"]
    problems: list[str] = []
    seen: set[str] = set()
    for index, detail in enumerate(params["policyDetails"]):
        where = f"policyDetails[{index}]"
        action = detail["action"]["type"]
        if action in seen:
            problems.append(f"{where}: a policy has one rule per action; {action} is repeated")
        seen.add(action)
        problems += _filter_faults(where, detail["filter"])
        problems += _include_faults(where, action, detail["action"], resource_type)
        problems += _exclusion_faults(where, detail.get("exclusionRules"), resource_type)
    if problems:
        raise InvalidParameterValueException(
            "The lifecycle policy is not valid: " + "; ".join(problems) + "."
        )
    check_selection(params["resourceSelection"])


def check_selection(selection: dict[str, Any]) -> None:
    recipes, tags = selection.get("recipes"), selection.get("tagMap")
    if bool(recipes) == bool(tags):
        raise InvalidParameterCombinationException(
            "resourceSelection takes either 'recipes' or 'tagMap', exactly one of them."
        )
    problems = []
    for index, recipe in enumerate(recipes or []):
        try:
            VersionSelector.parse(recipe["semanticVersion"])
        except ValueError as exc:
            problems.append(f"resourceSelection.recipes[{index}].semanticVersion: {exc}")
    if problems:
        raise InvalidParameterValueException(
            "The lifecycle policy is not valid: " + "; ".join(problems) + "."
        )


def _filter_faults(where: str, spec: dict[str, Any]) -> list[str]:
    if spec["type"] == "AGE":
        if not spec.get("unit"):
            return [f"{where}.filter: an AGE filter needs a unit (DAYS, WEEKS, MONTHS, YEARS)"]
        return []
    problems = []
    if spec.get("unit"):
        problems.append(f"{where}.filter: a COUNT filter takes no unit")
    if spec.get("retainAtLeast") is not None:
        problems.append(f"{where}.filter: retainAtLeast applies to AGE filters only")
    return problems


def _include_faults(where: str, action: str, spec: dict[str, Any], resource_type: str) -> list[str]:
    include = spec.get("includeResources") or {}
    chosen = {kind for kind, on in include.items() if on}
    problems = [
        f"{where}.action.includeResources.{kind} does not apply to {resource_type} policies"
        for kind in sorted(chosen - _KINDS_OF[resource_type])
    ]
    if "snapshots" in chosen and action != "DELETE":
        problems.append(f"{where}.action.includeResources.snapshots applies to DELETE only")
    if "snapshots" in chosen and "amis" not in chosen:
        problems.append(f"{where}.action.includeResources.snapshots needs amis as well")
    return problems


def _exclusion_faults(where: str, rules: dict[str, Any] | None, resource_type: str) -> list[str]:
    if not rules:
        return []
    if rules.get("amis") and resource_type != AMI_IMAGE:
        return [f"{where}.exclusionRules.amis applies to AMI_IMAGE policies only"]
    return []
