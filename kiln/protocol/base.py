"""What every wire protocol handler looks like to the server.

A handler turns a raw HTTP request into (operation, parameters) for one botocore service model,
and turns outputs and errors back into HTTP responses that botocore parses. Validation of the
parsed parameters against the input shape is protocol-independent (kiln.protocol.validate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.model import OperationModel

from kiln.core.errors import ServiceError

Params = dict[str, Any]


@dataclass(frozen=True)
class WireRequest:
    """An HTTP request as received: the raw (still percent-encoded) path and query string."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WireResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class ProtocolHandler(Protocol):
    """One service's wire protocol (rest-json, query, ec2), driven by its botocore model."""

    service_name: str

    def resolve(self, request: WireRequest) -> tuple[OperationModel, Params]:
        """Route the request to an operation and parse its members (no validation).

        Raises ServiceError (e.g. UnknownOperationException, SerializationException) when the
        request names no operation of this service or cannot be parsed.
        """
        ...

    def serialize(
        self, operation: OperationModel, output: Params, *, request_id: str
    ) -> WireResponse:
        """Render a successful output."""
        ...

    def serialize_error(
        self, error: ServiceError, *, operation: OperationModel | None, request_id: str
    ) -> WireResponse:
        """Render an error so botocore's parser for this protocol reads code and message."""
        ...

    def validation_error(self, problems: list[str]) -> ServiceError:
        """The error this service returns for input that fails model validation."""
        ...
