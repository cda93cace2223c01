"""The rest-json protocol (Image Builder), routed, parsed and serialized from the model alone.

Routing matches method + requestUri; a `{label}` matches one raw path segment, which is then
percent-decoded (so `/tags/{resourceArn}` takes an ARN whose `/` and `:` arrive encoded);
`{label+}` is greedy. Members are read by location: uri, querystring, header, headers, body.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel, Shape

from kiln.core.clock import as_utc
from kiln.core.errors import ClientError, ServiceError
from kiln.protocol.base import Params, WireRequest, WireResponse
from kiln.protocol.model import error_status

_LABEL = re.compile(r"\{([^}]+)\}")


class UnknownOperationException(ClientError):
    code = "UnknownOperationException"
    status = 404


class SerializationException(ClientError):
    code = "SerializationException"


class InvalidParameterValueException(ClientError):
    code = "InvalidParameterValueException"


class _Route:
    def __init__(self, operation: OperationModel) -> None:
        self.operation = operation
        self.method = operation.http["method"].upper()
        uri = operation.http["requestUri"]
        path, _, static_query = uri.partition("?")
        self.static_query = dict(parse_qsl(static_query, keep_blank_values=True))
        self.labels: list[str] = []
        pattern = ""
        cursor = 0
        for match in _LABEL.finditer(path):
            pattern += re.escape(path[cursor : match.start()])
            label = match.group(1)
            if label.endswith("+"):
                self.labels.append(label[:-1])
                pattern += "(.+)"
            else:
                self.labels.append(label)
                pattern += "([^/]+)"
            cursor = match.end()
        pattern += re.escape(path[cursor:])
        self.regex = re.compile(f"^{pattern}/?$")
        self.specificity = (len(path) - sum(len(lb) + 2 for lb in self.labels), -len(self.labels))

    def match(self, method: str, raw_path: str, query: Mapping[str, str]) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.regex.match(raw_path)
        if found is None:
            return None
        if any(query.get(k) != v for k, v in self.static_query.items() if v):
            return None
        return {
            label: unquote(value) for label, value in zip(self.labels, found.groups(), strict=True)
        }


class RestJsonProtocol:
    """ProtocolHandler for a rest-json service model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self.service_name: str = model.service_name
        routes = [_Route(model.operation_model(name)) for name in model.operation_names]
        self._routes = sorted(routes, key=lambda r: r.specificity, reverse=True)

    def resolve(self, request: WireRequest) -> tuple[OperationModel, Params]:
        pairs = parse_qsl(request.raw_query, keep_blank_values=True)
        first = dict(pairs)
        for route in self._routes:
            labels = route.match(request.method.upper(), request.raw_path, first)
            if labels is not None:
                return route.operation, self._parse(route.operation, labels, pairs, request)
        raise UnknownOperationException(
            f"No Image Builder operation is served at {request.method} {request.raw_path}"
        )

    # ---------------------------------------------------------------- parsing

    def _parse(
        self,
        operation: OperationModel,
        labels: dict[str, str],
        query: list[tuple[str, str]],
        request: WireRequest,
    ) -> Params:
        shape = operation.input_shape
        params: Params = {}
        if shape is None:
            return params
        body_doc = self._body(request.body) if _has_body_members(shape) else {}
        headers = {k.lower(): v for k, v in request.headers.items()}
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri":
                if wire in labels:
                    params[name] = _scalar(member, labels[wire])
            elif location == "querystring":
                value = _from_query(member, wire, query)
                if value is not None:
                    params[name] = value
            elif location == "header":
                if wire.lower() in headers:
                    params[name] = _scalar(member, headers[wire.lower()])
            elif location == "headers":
                prefix = wire.lower()
                found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix)}
                if found:
                    params[name] = found
            elif location is None and wire in body_doc:
                params[name] = _from_json(member, body_doc[wire])
        return params

    @staticmethod
    def _body(body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SerializationException(f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise SerializationException("The request body must be a JSON object")
        return doc

    # ---------------------------------------------------------------- serializing

    def serialize(
        self, operation: OperationModel, output: Params, *, request_id: str
    ) -> WireResponse:
        shape = operation.output_shape
        headers: list[tuple[str, str]] = [
            ("x-amzn-RequestId", request_id),
            ("Content-Type", "application/json"),
        ]
        body: dict[str, Any] = {}
        status = 200
        if shape is not None:
            for name, member in shape.members.items():
                value = output.get(name)
                if value is None:
                    continue
                location = member.serialization.get("location")
                wire = member.serialization.get("name", name)
                if location == "header":
                    headers.append((wire, _header_text(member, value)))
                elif location == "statusCode":
                    status = int(value)
                elif location is None:
                    body[wire] = _to_json(member, value)
        return WireResponse(status, json.dumps(body).encode(), headers)

    def serialize_error(
        self, error: ServiceError, *, operation: OperationModel | None, request_id: str
    ) -> WireResponse:
        status = error_status(self.model, error.code) or error.status
        body = json.dumps({"message": error.message}).encode()
        headers = [
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", error.code),
            ("Content-Type", "application/json"),
        ]
        return WireResponse(status, body, headers)

    def validation_error(self, problems: list[str]) -> ServiceError:
        if len(problems) == 1:
            return InvalidParameterValueException(problems[0])
        listed = "; ".join(problems)
        return InvalidParameterValueException(
            f"{len(problems)} validation errors detected: {listed}"
        )


def _has_body_members(shape: Shape) -> bool:
    return any(m.serialization.get("location") is None for m in shape.members.values())


def _from_query(member: Shape, wire: str, query: list[tuple[str, str]]) -> Any:
    if member.type_name == "list":
        values = [v for k, v in query if k == wire]
        return [_scalar(member.member, v) for v in values] if values else None
    if member.type_name == "map":
        return dict(query) or None
    for key, value in query:
        if key == wire:
            return _scalar(member, value)
    return None


def _scalar(shape: Shape, text: str) -> Any:
    """Convert a string from the path, query or a header to the shape's type, when it can."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind == "timestamp":
        return _timestamp(text)
    return text


def _timestamp(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, str):
        try:
            return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
        except ValueError:
            pass
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return as_utc(parsed)
    return value


def _from_json(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if wire in value:
                out[name] = _from_json(member, value[wire])
        return out
    if kind == "list" and isinstance(value, list):
        return [_from_json(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return _timestamp(value)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
    return value


def _to_json(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            if value.get(name) is not None:
                out[member.serialization.get("name", name)] = _to_json(member, value[name])
        return out
    if kind == "list":
        return [_to_json(shape.member, item) for item in value]
    if kind == "map":
        return {k: _to_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, dt.datetime):
            return value.timestamp()
        return value
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else value
        return base64.b64encode(raw).decode()
    return value


def _header_text(shape: Shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp" and isinstance(value, dt.datetime):
        return value.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return str(value)
