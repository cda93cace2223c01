"""Calling a service operation: idempotency by clientToken, then the operation function.

An operation function is `fn(ctx, params) -> output` named the snake_case of the AWS operation.
Replies to a mutating request are remembered under its clientToken in the same transaction, so
a retry returns the first answer and a different request under the same token is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from botocore.model import OperationModel

from kiln.core.errors import ClientError
from kiln.services.context import RequestContext
from kiln.store import resources

Operation = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]


class IdempotentParameterMismatchException(ClientError):
    code = "IdempotentParameterMismatchException"


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass
class ServiceRegistry:
    """The operations one service implements, and for the rest, where they are planned."""

    service: str
    operations: dict[str, Operation] = field(default_factory=dict)
    planned: dict[str, str] = field(default_factory=dict)

    @classmethod
    def collect(
        cls,
        service: str,
        operation_names: Iterable[str],
        modules: Iterable[ModuleType],
        *,
        planned: dict[str, str],
    ) -> ServiceRegistry:
        registry = cls(service, planned=dict(planned))
        modules = list(modules)
        for name in operation_names:
            for module in modules:
                fn = getattr(module, snake_case(name), None)
                if callable(fn):
                    registry.operations[name] = fn
                    break
        return registry

    def call(
        self, ctx: RequestContext, operation: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        fn = self.operations[operation.name]
        token_member = _token_member(operation)
        token = params.get(token_member) if token_member else None
        if token_member is None or not token:
            return fn(ctx, params)
        digest = _digest({k: v for k, v in params.items() if k != token_member})
        seen = resources.client_token(ctx.session, ctx.scope, operation=operation.name, token=token)
        if seen is not None:
            if seen.digest != digest:
                raise IdempotentParameterMismatchException(
                    f"The client token '{token}' was already used for a {operation.name} request "
                    "with different parameters."
                )
            return dict(seen.response)
        output = fn(ctx, params)
        output.setdefault(token_member, token)
        resources.remember_client_token(
            ctx.session,
            ctx.scope,
            operation=operation.name,
            token=token,
            digest=digest,
            response=_jsonable(output),
            now=ctx.now,
        )
        return output


def _token_member(operation: OperationModel) -> str | None:
    shape = operation.input_shape
    if shape is None:
        return None
    for name, member in shape.members.items():
        if member.metadata.get("idempotencyToken"):
            return str(name)
    return None


def _digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(_jsonable(params), sort_keys=True).encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value
