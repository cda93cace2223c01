"""The query protocol (IAM, STS) and its ec2 variant (EC2), driven by the botocore model alone.

Requests are form-encoded (`POST`, `application/x-www-form-urlencoded`; `GET` with the same
parameters in the query string works too, and a gzip `Content-Encoding` is undone): `Action`
names the operation, `Version` must be the model's apiVersion when given. Members are parsed by
kiln.protocol.query_parse, outputs rendered by kiln.protocol.xml_serialize.

Responses:

    query   <{Op}Response xmlns=..><{Op}Result>..</{Op}Result>
              <ResponseMetadata><RequestId>..</RequestId></ResponseMetadata></{Op}Response>
    ec2     <{Op}Response xmlns=..><requestId>..</requestId>..</{Op}Response>

Errors:

    query   <ErrorResponse xmlns=..><Error><Type>Sender|Receiver</Type><Code>..</Code>
              <Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>
    ec2     <Response><Errors><Error><Code>..</Code><Message>..</Message></Error></Errors>
              <RequestID>..</RequestID></Response>

An error's code may be an error shape's name (`NoSuchEntityException`) or its wire code
(`NoSuchEntity`): either way the wire carries the wire code and the shape's HTTP status.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from kiln.core.errors import ClientError, ServiceError
from kiln.protocol.base import Params, WireRequest, WireResponse
from kiln.protocol.query_parse import form_tree, parse_input
from kiln.protocol.xml_serialize import XmlWriter, escape

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_CONTENT_TYPE = "text/xml"


class MissingAction(ClientError):
    code = "MissingAction"


class InvalidAction(ClientError):
    code = "InvalidAction"


class MalformedQueryString(ClientError):
    code = "MalformedQueryString"


class ValidationError(ClientError):
    """What query services (IAM, STS) answer for input that fails the model's constraints."""

    code = "ValidationError"


class InvalidParameterValue(ClientError):
    code = "InvalidParameterValue"


class MissingParameter(ClientError):
    code = "MissingParameter"


@dataclass(frozen=True)
class _ErrorWire:
    code: str
    status: int | None
    sender_fault: bool | None


class QueryProtocol:
    """ProtocolHandler for a service whose model says protocol `query` or `ec2`."""

    def __init__(self, model: ServiceModel) -> None:
        protocol = model.metadata.get("protocol")
        if protocol not in ("query", "ec2"):
            raise ValueError(f"QueryProtocol serves query and ec2 models, not {protocol!r}")
        self.model = model
        self.ec2 = protocol == "ec2"
        self.service_name: str = model.metadata.get("endpointPrefix", "")
        self.api_version: str = model.metadata.get("apiVersion", "")
        self.namespace: str = model.metadata.get("xmlNamespace", "")
        self._operations = {name: model.operation_model(name) for name in model.operation_names}
        self._errors = _error_table(model)

    # ---------------------------------------------------------------- parsing

    def resolve(self, request: WireRequest) -> tuple[OperationModel, Params]:
        pairs = self._pairs(request)
        params = dict(pairs)
        action = params.get("Action")
        if not action:
            raise MissingAction("Missing Action")
        version = params.get("Version")
        operation = self._operations.get(action)
        if operation is None or (version and version != self.api_version):
            raise InvalidAction(self._invalid_action_message(action, version))
        shape = operation.input_shape
        if shape is None:
            return operation, {}
        return operation, parse_input(shape, form_tree(pairs), ec2=self.ec2)

    def _invalid_action_message(self, action: str, version: str | None) -> str:
        if self.ec2:
            return f"The action {action} is not valid for this web service."
        return f"Could not find operation {action} for version {version or self.api_version}"

    def _pairs(self, request: WireRequest) -> list[tuple[str, str]]:
        """Query-string parameters, then body parameters (a body value wins on a repeated name)."""
        body = _decoded_body(request)
        try:
            pairs = parse_qsl(request.raw_query, keep_blank_values=True, errors="strict")
            if body:
                pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError as exc:
            raise MalformedQueryString("The request parameters are not valid UTF-8") from exc
        return pairs

    # ---------------------------------------------------------------- serializing

    def serialize(
        self, operation: OperationModel, output: Params, *, request_id: str
    ) -> WireResponse:
        name = operation.name
        shape = operation.output_shape
        writer = XmlWriter(ec2=self.ec2)
        writer.parts.append(f"{_XML_DECLARATION}<{name}Response{self._xmlns()}>")
        if self.ec2:
            writer.element("requestId", escape(request_id))
            if shape is not None:
                writer.members(shape, output)
        else:
            if shape is not None:
                _write_query_result(writer, shape, output)
            writer.element("ResponseMetadata", f"<RequestId>{escape(request_id)}</RequestId>")
        writer.parts.append(f"</{name}Response>")
        return WireResponse(200, writer.text().encode("utf-8"), self._headers(request_id))

    def serialize_error(
        self, error: ServiceError, *, operation: OperationModel | None, request_id: str
    ) -> WireResponse:
        wire = self._errors.get(error.code, _ErrorWire(error.code, None, None))
        status = wire.status or error.status
        code = escape(wire.code)
        message = escape(error.message)
        rid = escape(request_id)
        if self.ec2:
            body = (
                f"{_XML_DECLARATION}<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{rid}</RequestID>"
                "</Response>"
            )
        else:
            sender = wire.sender_fault if wire.sender_fault is not None else status < 500
            fault = "Sender" if sender else "Receiver"
            body = (
                f"{_XML_DECLARATION}<ErrorResponse{self._xmlns()}><Error><Type>{fault}</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>"
            )
        return WireResponse(status, body.encode("utf-8"), self._headers(request_id))

    def validation_error(self, problems: list[str]) -> ServiceError:
        """query: ValidationError "N validation error(s) detected: a; b" (as IAM and STS say).

        ec2: MissingParameter when the first problem is a missing required member, else
        InvalidParameterValue; the message is the problems joined by "; " (EC2 reports one).
        """
        listed = "; ".join(problems)
        if self.ec2:
            if problems and "missing required parameter" in problems[0].lower():
                return MissingParameter(listed)
            return InvalidParameterValue(listed)
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        return ValidationError(f"{count} validation {noun} detected: {listed}")

    def _xmlns(self) -> str:
        return f' xmlns="{escape(self.namespace)}"' if self.namespace else ""

    @staticmethod
    def _headers(request_id: str) -> list[tuple[str, str]]:
        return [("x-amzn-RequestId", request_id), ("Content-Type", _CONTENT_TYPE)]


def _write_query_result(writer: XmlWriter, shape: Shape, output: Params) -> None:
    wrapper = shape.serialization.get("resultWrapper")
    if wrapper:
        writer.parts.append(f"<{wrapper}>")
        writer.members(shape, output)
        writer.parts.append(f"</{wrapper}>")
    else:
        writer.members(shape, output)


def _decoded_body(request: WireRequest) -> bytes:
    encoding = next(
        (v for k, v in request.headers.items() if k.lower() == "content-encoding"), ""
    ).lower()
    if "gzip" not in encoding or not request.body:
        return request.body
    try:
        return gzip.decompress(request.body)
    except (OSError, EOFError, zlib.error) as exc:
        raise MalformedQueryString("The request body is not valid gzip data") from exc


def _error_table(model: ServiceModel) -> dict[str, _ErrorWire]:
    """Error shape name and wire code, each to the wire code, HTTP status and fault side."""
    table: dict[str, _ErrorWire] = {}
    for shape in model.error_shapes:
        meta: dict[str, Any] = shape.metadata.get("error", {})
        status = meta.get("httpStatusCode")
        sender = meta.get("senderFault")
        wire = _ErrorWire(
            code=str(shape.error_code),
            status=int(status) if status is not None else None,
            sender_fault=bool(sender) if sender is not None else None,
        )
        table[shape.name] = wire
        table.setdefault(wire.code, wire)
    return table
