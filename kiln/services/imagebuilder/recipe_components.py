"""The `components` of a recipe: each ARN resolved (x wildcards select the latest version), its
parameters checked against the parameters the component declares, and its platform and
supported OS versions checked against the recipe's parent image.

The recipe keeps each ARN as given; the reference it records for referential integrity is to
the component build the ARN resolves to now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kiln.core.errors import ClientError
from kiln.services.context import RequestContext
from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from kiln.services.imagebuilder.recipe_parents import LINUX, ParentFacts
from kiln.store import resources
from kiln.store.schema import ResourceRow

COMPONENT = "component"
MAX_COMPONENTS = 20
_BOOLEANS = ("true", "false")


class ServiceQuotaExceededException(ClientError):
    code = "ServiceQuotaExceededException"
    status = 402


@dataclass(frozen=True, slots=True)
class RecipeComponent:
    configuration: dict[str, Any]
    row: ResourceRow

    @property
    def arn(self) -> str:
        return str(self.configuration["componentArn"])


def resolve_components(
    ctx: RequestContext, configurations: Sequence[dict[str, Any]] | None
) -> list[RecipeComponent]:
    """Every configured component, found and its parameters checked."""
    configurations = list(configurations or [])
    if len(configurations) > MAX_COMPONENTS:
        raise ServiceQuotaExceededException(
            f"A recipe can have at most {MAX_COMPONENTS} build and test components; "
            f"this one has {len(configurations)}."
        )
    resolved = []
    for configuration in configurations:
        text = str(configuration["componentArn"])
        row = versions.find(ctx, versions.parse(text, COMPONENT, member="componentArn"))
        if row is None:
            raise ResourceNotFoundException(f"The component '{text}' does not exist.")
        _check_parameters(text, row, configuration.get("parameters") or [])
        resolved.append(RecipeComponent(configuration, row))
    return resolved


def recipe_platform(parent: ParentFacts, components: Sequence[RecipeComponent]) -> str:
    """The recipe's platform: the parent's; else the components' (one platform); else Linux."""
    if parent.platform:
        return parent.platform
    platforms = sorted({str(c.row.body.get("platform")) for c in components})
    if len(platforms) > 1:
        raise InvalidParameterValueException(
            f"The recipe's components are for different platforms ({', '.join(platforms)}); "
            "all components of a recipe must be for the platform of its parent image."
        )
    return platforms[0] if platforms else LINUX


def check_compatibility(
    parent: ParentFacts, platform: str, components: Sequence[RecipeComponent]
) -> None:
    """Each BUILD/TEST component must run on the recipe's platform and parent OS version."""
    for component in components:
        body = component.row.body
        if body.get("platform") != platform:
            raise InvalidParameterValueException(
                f"The component '{component.arn}' is a {body.get('platform')} component and "
                f"cannot be used in a recipe whose parent image is {platform}."
            )
        supported = [str(v) for v in body.get("supportedOsVersions") or []]
        if parent.os_version and supported and not _supports(supported, parent.os_version):
            raise InvalidParameterValueException(
                f"The component '{component.arn}' supports {', '.join(supported)}, "
                f"not the parent image's OS version {parent.os_version}."
            )


def record_references(
    ctx: RequestContext, recipe_arn: str, components: Sequence[RecipeComponent]
) -> None:
    for target in sorted({component.row.arn for component in components}):
        resources.add_reference(ctx.session, ctx.scope, source_arn=recipe_arn, target_arn=target)


def _supports(supported: list[str], os_version: str) -> bool:
    """`Debian` supports `Debian 12`; `Debian 12` supports `Debian 12` but not `Debian 13`."""
    wanted = os_version.lower()
    return any(
        wanted == value.lower() or wanted.startswith(value.lower() + " ") for value in supported
    )


def _check_parameters(arn: str, row: ResourceRow, given: list[dict[str, Any]]) -> None:
    declared = {str(p["name"]): p for p in row.body.get("parameters") or []}
    seen: set[str] = set()
    for parameter in given:
        name = str(parameter["name"])
        if name not in declared:
            names = ", ".join(sorted(declared)) or "none"
            raise InvalidParameterValueException(
                f"The component '{arn}' has no parameter named '{name}' (its parameters: {names})."
            )
        if name in seen:
            raise InvalidParameterValueException(
                f"The parameter '{name}' of component '{arn}' is set more than once."
            )
        seen.add(name)
        _check_value(arn, name, str(declared[name]["type"]), list(parameter["value"]))
    for name, detail in declared.items():
        if name not in seen and "defaultValue" not in detail:
            raise InvalidParameterValueException(
                f"The component '{arn}' requires a value for its parameter '{name}', "
                "which has no default."
            )


def _check_value(arn: str, name: str, kind: str, values: list[str]) -> None:
    kind = kind.lower()
    if kind == "stringlist":
        return
    problem = None
    if len(values) != 1:
        problem = f"takes exactly one value, not {len(values)}"
    elif kind == "integer" and not _is_integer(values[0]):
        problem = f"is an Integer parameter; '{values[0]}' is not an integer"
    elif kind == "boolean" and values[0].lower() not in _BOOLEANS:
        problem = f"is a Boolean parameter; '{values[0]}' is not true or false"
    if problem:
        raise InvalidParameterValueException(
            f"The parameter '{name}' of component '{arn}' {problem}."
        )


def _is_integer(text: str) -> bool:
    try:
        int(text.strip())
    except ValueError:
        return False
    return True
