"""Amazon Resource Names: the one place ARNs are formed and taken apart.

Image Builder ARNs are `arn:aws:imagebuilder:REGION:ACCOUNT:TYPE/NAME[/VERSION[/BUILD]]`
(workflows add a type node: `workflow/build/NAME/...`). The account node is 12 digits, or `aws`
for Amazon-managed resources. NAME in an ARN is the resource name lower-cased with spaces made
dashes, as the service does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiln.core.semver import VersionSelector

PARTITION = "aws"

VERSIONED_TYPES = frozenset({"component", "image", "image-recipe", "container-recipe", "workflow"})
BUILT_TYPES = frozenset({"component", "image", "workflow"})
NAMED_TYPES = frozenset(
    {
        "infrastructure-configuration",
        "distribution-configuration",
        "image-pipeline",
        "lifecycle-policy",
    }
)
WORKFLOW_KINDS = ("build", "test", "distribution")


class ArnError(ValueError):
    """A string is not an ARN of the expected form."""


@dataclass(frozen=True)
class Arn:
    """A generic ARN: arn:partition:service:region:account:resource."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
            raise ArnError(f"not an ARN: {text!r}")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def arn_name(name: str) -> str:
    """The NAME node the service derives from a resource's name."""
    return name.strip().lower().replace(" ", "-")


@dataclass(frozen=True)
class ImageBuilderArn:
    """An Image Builder resource ARN, taken apart.

    `version` is None for a name ARN; it may hold `x` wildcards. `build` is set only on a
    build-version ARN. `kind` is the workflow type node (build/test/distribution) for workflows.
    """

    region: str
    account: str
    resource_type: str
    name: str
    version: VersionSelector | None = None
    build: int | None = None
    kind: str | None = None

    @property
    def is_build_version(self) -> bool:
        return self.build is not None

    @property
    def is_exact_version(self) -> bool:
        return self.version is not None and self.version.is_exact

    def with_version(self, version: str, build: int | None = None) -> ImageBuilderArn:
        return ImageBuilderArn(
            self.region,
            self.account,
            self.resource_type,
            self.name,
            VersionSelector.parse(version),
            build,
            self.kind,
        )

    def version_arn(self) -> ImageBuilderArn:
        """The same resource without its build node."""
        return ImageBuilderArn(
            self.region,
            self.account,
            self.resource_type,
            self.name,
            self.version,
            None,
            self.kind,
        )

    def __str__(self) -> str:
        nodes = [self.resource_type]
        if self.kind is not None:
            nodes.append(self.kind)
        nodes.append(self.name)
        if self.version is not None:
            nodes.append(str(self.version))
        if self.build is not None:
            nodes.append(str(self.build))
        return f"arn:{PARTITION}:imagebuilder:{self.region}:{self.account}:{'/'.join(nodes)}"


def imagebuilder_arn(
    *,
    region: str,
    account: str,
    resource_type: str,
    name: str,
    version: str | None = None,
    build: int | None = None,
    kind: str | None = None,
) -> ImageBuilderArn:
    """Form the ARN of a resource from its (user-given) name."""
    return ImageBuilderArn(
        region,
        account,
        resource_type,
        arn_name(name),
        VersionSelector.parse(version) if version is not None else None,
        build,
        kind,
    )


_RESOURCE = re.compile(r"^[a-z0-9-_]+$")


def parse_imagebuilder_arn(text: str, *, resource_type: str | None = None) -> ImageBuilderArn:
    """Take an Image Builder ARN apart; raise ArnError when it is not one."""
    arn = Arn.parse(text)
    if arn.service != "imagebuilder":
        raise ArnError(f"not an Image Builder ARN: {text!r}")
    nodes = arn.resource.split("/")
    rtype = nodes[0]
    if resource_type is not None and rtype != resource_type:
        raise ArnError(f"not a {resource_type} ARN: {text!r}")
    rest = nodes[1:]
    kind = None
    if rtype == "workflow":
        if not rest or rest[0] not in WORKFLOW_KINDS:
            raise ArnError(f"workflow ARN without a type node: {text!r}")
        kind, rest = rest[0], rest[1:]
    if not rest or not _RESOURCE.match(rest[0]):
        raise ArnError(f"ARN without a resource name: {text!r}")
    name, rest = rest[0], rest[1:]
    if rtype in NAMED_TYPES:
        if rest:
            raise ArnError(f"{rtype} ARNs have no version: {text!r}")
        return ImageBuilderArn(arn.region, arn.account, rtype, name)
    if rtype not in VERSIONED_TYPES:
        raise ArnError(f"unknown Image Builder resource type {rtype!r}")
    version = None
    build = None
    if rest:
        try:
            version = VersionSelector.parse(rest[0])
        except ValueError as exc:
            raise ArnError(str(exc)) from exc
        rest = rest[1:]
    if rest:
        if rtype not in BUILT_TYPES or not rest[0].isdigit() or len(rest) > 1:
            raise ArnError(f"bad build node in {text!r}")
        if version is None or not version.is_exact:
            raise ArnError(f"a build number needs an exact version: {text!r}")
        build = int(rest[0])
    return ImageBuilderArn(arn.region, arn.account, rtype, name, version, build, kind)
