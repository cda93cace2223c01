"""Loading botocore's installed service models: the single source of truth for the wire."""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


@functools.cache
def service_model(name: str) -> ServiceModel:
    """The botocore model of a service (imagebuilder, iam, sts, ec2)."""
    return _session().get_service_model(name)


def operation(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)


def error_status(model: ServiceModel, code: str) -> int | None:
    """The HTTP status the model gives an error code, or None when the model has no such error."""
    return _error_statuses(model.service_name).get(code)


@functools.cache
def _error_statuses(service: str) -> dict[str, int]:
    model = service_model(service)
    statuses: dict[str, int] = {}
    for shape in model.error_shapes:
        meta = shape.metadata.get("error", {})
        status = int(meta.get("httpStatusCode", 400))
        statuses[shape.name] = status
        if "code" in meta:
            statuses[meta["code"]] = status
    return statuses
