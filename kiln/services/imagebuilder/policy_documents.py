"""Resource policies of shareable resources: what Put*Policy accepts, and who they share with.

A policy is stored as the text the caller gave (on `ResourceRow.policy`); `versions.shared_with`
reads it. What is accepted mirrors Image Builder's sharing policies: a JSON object with `Version`
and a `Statement` list of `Allow` statements naming AWS accounts (12-digit ids or
`arn:aws:iam::ACCOUNT:root`), only the read actions of the resource's type, and the resource
itself. The text must also be a resource policy the IAM engine reads (the server evaluates it for
cross-account calls). A policy naming only the owner's account shares with nobody: Kiln's way to
stop sharing, as there is no RAM.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from typing import Any

from kiln.iam import MalformedPolicyDocumentError, parse_policy
from kiln.iam.document import PolicyKind
from kiln.services.imagebuilder.errors import InvalidParameterValueException

MAX_POLICY_LENGTH = 30000
VERSIONS = ("2012-10-17",)
ALLOWED_ACTIONS: Mapping[str, frozenset[str]] = {
    "component": frozenset({"imagebuilder:GetComponent", "imagebuilder:ListComponents"}),
    "image": frozenset({"imagebuilder:GetImage", "imagebuilder:ListImages"}),
    "image-recipe": frozenset({"imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"}),
    "container-recipe": frozenset(
        {"imagebuilder:GetContainerRecipe", "imagebuilder:ListContainerRecipes"}
    ),
}
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Principal", "Action", "Resource"})
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_ROOT_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):root$")


def validate_policy(text: str, *, resource_type: str, resource_arn: str) -> None:
    """Raise InvalidParameterValueException naming every fault of the policy."""
    if len(text) > MAX_POLICY_LENGTH:
        raise _invalid([f"the policy has {len(text)} characters; at most {MAX_POLICY_LENGTH}"])
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise _invalid([f"not valid JSON: {exc}"]) from exc
    if not isinstance(doc, dict):
        raise _invalid(["the policy must be a JSON object"])
    problems: list[str] = []
    for key in doc:
        if key not in ("Version", "Id", "Statement"):
            problems.append(f"unknown policy element '{key}'")
    if doc.get("Version") not in VERSIONS:
        problems.append(f"Version must be one of {', '.join(VERSIONS)}")
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        problems.append("Statement must be a non-empty list of statements")
        statements = []
    allowed = ALLOWED_ACTIONS[resource_type]
    for index, statement in enumerate(statements):
        problems += _statement_faults(f"Statement[{index}]", statement, allowed, resource_arn)
    if problems:
        raise _invalid(problems)
    try:
        parse_policy(text, kind=PolicyKind.RESOURCE)
    except MalformedPolicyDocumentError as exc:
        raise _invalid([str(exc)]) from exc


def shared_accounts(text: str | None) -> set[str]:
    """The accounts a stored policy shares the resource with."""
    if not text:
        return set()
    try:
        doc = json.loads(text)
    except ValueError:
        return set()
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    accounts: set[str] = set()
    for statement in statements:
        if isinstance(statement, dict) and statement.get("Effect") == "Allow":
            for principal in _principals(statement.get("Principal")):
                account = _account_of(principal)
                if account:
                    accounts.add(account)
    return accounts


def _statement_faults(
    where: str, statement: Any, allowed: frozenset[str], resource_arn: str
) -> list[str]:
    if not isinstance(statement, dict):
        return [f"{where} must be an object"]
    problems = [
        f"{where}: unknown element '{key}'" for key in statement if key not in _STATEMENT_KEYS
    ]
    if statement.get("Effect") != "Allow":
        problems.append(f"{where}: Effect must be Allow (sharing policies only grant access)")
    principals = _principals(statement.get("Principal"))
    if not principals:
        problems.append(f'{where}: Principal must name AWS accounts as {{"AWS": [...]}}')
    for principal in principals:
        if not _account_of(principal):
            problems.append(
                f"{where}: principal '{principal}' is not an AWS account id or "
                "arn:aws:iam::ACCOUNT:root"
            )
    actions = _strings(statement.get("Action"))
    if not actions:
        problems.append(f"{where}: Action must name at least one action")
    for action in actions:
        if action not in allowed:
            problems.append(
                f"{where}: the action '{action}' is not allowed; allowed actions: "
                f"{', '.join(sorted(allowed))}"
            )
    resources = _strings(statement.get("Resource"))
    if not resources:
        problems.append(f"{where}: Resource must name the resource '{resource_arn}'")
    for resource in resources:
        if not fnmatch.fnmatchcase(resource_arn, resource):
            problems.append(f"{where}: Resource '{resource}' does not name '{resource_arn}'")
    return problems


def _principals(value: Any) -> list[str]:
    if not isinstance(value, dict) or set(value) != {"AWS"}:
        return []
    return _strings(value["AWS"])


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def _account_of(principal: str) -> str | None:
    if _ACCOUNT.match(principal):
        return principal
    match = _ROOT_ARN.match(principal)
    return match.group(1) if match else None


def _invalid(problems: list[str]) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        "The resource policy is not valid: " + "; ".join(problems) + "."
    )
