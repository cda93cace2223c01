"""The request an authorizer decides on: action, resource, principal and context keys.

Context keys are case-insensitive; each maps to a list of strings (a single-valued key is a
one-element list). Keys the principal implies (`aws:username`, `aws:userid`,
`aws:PrincipalAccount`, `aws:PrincipalArn`, `aws:PrincipalType`, `aws:PrincipalServiceName`) and
`aws:CurrentTime` / `aws:EpochTime` (when `now` is given) are derived unless the context sets them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from kiln.iam.principal import Principal, PrincipalType

ContextInput = Mapping[str, str | Sequence[str]]


def _normalize(context: ContextInput) -> Mapping[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, value in context.items():
        values = (value,) if isinstance(value, str) else tuple(value)
        out[key.lower()] = out.get(key.lower(), ()) + values
    return MappingProxyType(out)


@dataclass(frozen=True)
class AuthorizationRequest:
    """One call to authorize: `action` is `service:Operation`, `resource` an ARN or `*`."""

    action: str
    resource: str
    principal: Principal
    context: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    now: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", _normalize(self.context))

    def __hash__(self) -> int:
        return hash((self.action, self.resource, self.principal, tuple(self.context.items())))

    def value(self, key: str) -> tuple[str, ...] | None:
        """The values of a context key (any case), or None when the request does not have it."""
        lowered = key.lower()
        if lowered in self.context:
            return self.context[lowered]
        return self._derived(lowered)

    def _derived(self, key: str) -> tuple[str, ...] | None:
        p = self.principal
        derived: dict[str, str | None] = {
            "aws:principaltype": str(p.type),
            "aws:userid": p.user_id,
            "aws:username": p.username if p.type is PrincipalType.USER else None,
        }
        if p.type is PrincipalType.SERVICE:
            derived["aws:principalservicename"] = p.arn
        elif p.type is not PrincipalType.ANONYMOUS:
            derived["aws:principalaccount"] = p.account_id or None
            derived["aws:principalarn"] = p.principal_arn
        if self.now is not None:
            now = self.now.astimezone(UTC)
            derived["aws:currenttime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            derived["aws:epochtime"] = str(int(now.timestamp()))
        value = derived.get(key)
        return None if value is None else (value,)
