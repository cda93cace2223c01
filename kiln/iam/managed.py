"""AWS managed policies shipped as package data (`kiln/iam/managed/<Name>.json`).

Each file is AWS's `GetPolicyVersion` answer, unchanged: `{"PolicyVersion": {"CreateDate",
"VersionId", "Document", "IsDefaultVersion"}}`. Their ARNs use the account node `aws`:
`arn:aws:iam::aws:policy<path><Name>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from kiln.core.arn import PARTITION, Arn
from kiln.iam.document import PolicyDocument, PolicyKind, parse_policy

_PATHS = MappingProxyType(
    {
        "AWSServiceRoleForImageBuilder": "/aws-service-role/",
        "EC2ImageBuilderLifecycleExecutionPolicy": "/service-role/",
    }
)


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    arn: str
    path: str
    version_id: str
    create_date: datetime
    document_json: str
    """The policy document as AWS serves it (compact JSON of the stored document)."""
    document: PolicyDocument


def managed_policy_arn(name: str, *, path: str = "/") -> str:
    return str(Arn(PARTITION, "iam", "", "aws", f"policy{path}{name}"))


def _load(name: str, raw: dict[str, Any]) -> ManagedPolicy:
    version = raw["PolicyVersion"]
    path = _PATHS.get(name, "/")
    document = version["Document"]
    return ManagedPolicy(
        name=name,
        arn=managed_policy_arn(name, path=path),
        path=path,
        version_id=version["VersionId"],
        create_date=datetime.fromisoformat(version["CreateDate"]),
        document_json=json.dumps(document, separators=(",", ":")),
        document=parse_policy(document, kind=PolicyKind.IDENTITY),
    )


@cache
def _catalog() -> dict[str, ManagedPolicy]:
    folder = resources.files("kiln.iam").joinpath("managed")
    policies = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            policy = _load(entry.name.removesuffix(".json"), json.loads(entry.read_text("utf-8")))
            policies[policy.arn] = policy
    return policies


def managed_policies() -> list[ManagedPolicy]:
    """Every shipped AWS managed policy, sorted by name."""
    return sorted(_catalog().values(), key=lambda p: p.name)


def managed_policy(arn: str) -> ManagedPolicy | None:
    """The managed policy with this ARN, or None."""
    return _catalog().get(arn)
