"""botocore as the oracle, for every Image Builder operation.

Requests: what botocore's client serializes, Kiln parses back to the same parameters.
Responses: what Kiln serializes, botocore's parser reads back to the same output.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSRequest, HeadersDict, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.protocol.base import WireRequest
from kiln.protocol.model import service_model
from kiln.protocol.restjson import RestJsonProtocol
from tests.protocol.shapes import for_shape

MODEL = service_model("imagebuilder")
PROTOCOL = RestJsonProtocol(MODEL)
OPERATIONS = sorted(MODEL.operation_names)


def test_the_model_has_77_operations():
    assert len(OPERATIONS) == 77


def wire_request(operation_name: str, params: dict) -> WireRequest:
    operation = MODEL.operation_model(operation_name)
    request_dict = create_serializer("rest-json", include_validation=False).serialize_to_request(
        params, operation
    )
    prepare_request_dict(request_dict, endpoint_url="https://imagebuilder.us-east-1.amazonaws.com")
    prepared = AWSRequest(
        method=request_dict["method"],
        url=request_dict["url"],
        data=request_dict["body"],
        headers=request_dict["headers"],
    ).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    return WireRequest(
        method=prepared.method,
        raw_path=url.path,
        raw_query=url.query,
        headers={k.lower(): v for k, v in prepared.headers.items()},
        body=body if isinstance(body, bytes) else body.encode(),
    )


def normal(value):
    """Compare timestamps as instants and drop empty containers botocore leaves out."""
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dt.datetime):
        return round(value.timestamp(), 3)
    return value


@pytest.mark.parametrize("operation_name", OPERATIONS)
def test_every_operation_routes(operation_name):
    operation = MODEL.operation_model(operation_name)
    params = _sample(operation.input_shape)
    resolved, _parsed = PROTOCOL.resolve(wire_request(operation_name, params))
    assert resolved.name == operation_name


def _sample(shape):
    """A minimal value of a shape: required members only, one item per list."""
    kind = shape.type_name
    if kind == "structure":
        return {n: _sample(m) for n, m in shape.members.items() if n in shape.required_members}
    if kind == "list":
        return [_sample(shape.member)]
    if kind == "map":
        return {"k": _sample(shape.value)}
    if kind == "string":
        return shape.enum[0] if shape.enum else "arn:aws:imagebuilder:us-east-1:1:component/a/1"
    return {
        "integer": 1,
        "long": 1,
        "boolean": True,
        "double": 1.0,
        "float": 1.0,
        "timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "blob": b"x",
    }[kind]


@pytest.mark.parametrize("operation_name", OPERATIONS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_requests_round_trip(operation_name, data):
    operation = MODEL.operation_model(operation_name)
    params = data.draw(for_shape(operation.input_shape))
    resolved, parsed = PROTOCOL.resolve(wire_request(operation_name, params))
    assert resolved.name == operation_name
    assert normal(parsed) == normal(params)


@pytest.mark.parametrize("operation_name", OPERATIONS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_responses_round_trip(operation_name, data):
    operation = MODEL.operation_model(operation_name)
    output = data.draw(for_shape(operation.output_shape))
    response = PROTOCOL.serialize(operation, output, request_id="req-1")
    parsed = create_parser("rest-json").parse(
        {
            "status_code": response.status,
            "headers": HeadersDict(response.headers),
            "body": response.body,
        },
        operation.output_shape,
    )
    parsed.pop("ResponseMetadata", None)
    assert normal(parsed) == normal(output)
    assert dict(response.headers)["x-amzn-RequestId"] == "req-1"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ResourceNotFoundException", 404),
        ("InvalidRequestException", 400),
        ("ServiceException", 500),
        ("CallRateLimitExceededException", 429),
        ("ResourceAlreadyExistsException", 400),
        ("ForbiddenException", 403),
    ],
)
def test_errors_render_as_botocore_reads_them(code, status):
    from kiln.core.errors import ServiceError

    operation = MODEL.operation_model("GetComponent")
    response = PROTOCOL.serialize_error(
        ServiceError("it went wrong", code=code, status=599),
        operation=operation,
        request_id="req-2",
    )
    assert response.status == status
    parsed = create_parser("rest-json").parse(
        {
            "status_code": response.status,
            "headers": HeadersDict(response.headers),
            "body": response.body,
        },
        operation.output_shape,
    )
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == "it went wrong"
    assert json.loads(response.body) == {"message": "it went wrong"}


def test_tag_routes_take_a_percent_encoded_arn():
    arn = "arn:aws:imagebuilder:us-east-1:123456789012:component/x/1.0.0/1"
    request = wire_request("ListTagsForResource", {"resourceArn": arn})
    assert "%2F" in request.raw_path and "%3A" in request.raw_path
    operation, params = PROTOCOL.resolve(request)
    assert operation.name == "ListTagsForResource"
    assert params == {"resourceArn": arn}
