"""No request, however malformed, gets a 5xx or a traceback."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.protocol.base import WireRequest
from kiln.protocol.model import service_model
from kiln.server.handler import handle

MODEL = service_model("imagebuilder")
OPERATIONS = sorted(MODEL.operation_names)
PATHS = [MODEL.operation_model(name).http["requestUri"] for name in OPERATIONS]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _member_names():
    names = set()
    for name in OPERATIONS:
        shape = MODEL.operation_model(name).input_shape
        if shape is not None:
            names.update(shape.members)
    return sorted(names)


bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(_member_names()), json_values, max_size=6).map(
        lambda v: json.dumps(v).encode()
    ),
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"]),
    path=st.one_of(st.sampled_from(PATHS), st.text(max_size=30).map(lambda t: "/" + t)),
    query=st.text(max_size=40),
    body=bodies,
)
def test_handler_never_answers_5xx(kiln, method, path, query, body):
    request = WireRequest(
        method=method,
        raw_path=path,
        raw_query=query,
        headers={"content-type": "application/json"},
        body=body,
    )
    response, request_id, _ = handle(kiln, request)
    assert response.status < 500, response.body
    assert dict(response.headers)["x-amzn-RequestId"] == request_id
    if response.status >= 400:
        assert "message" in json.loads(response.body)
        assert dict(response.headers)["x-amzn-ErrorType"]


def test_http_edge_answers_malformed_requests(endpoint):
    with httpx.Client(base_url=endpoint) as http:
        assert http.get("/health").json()["status"] == "ok"
        cases = [
            http.put("/CreateComponent", content=b"{not json"),
            http.put("/CreateComponent", content=b"[1,2]"),
            http.get("/nowhere/at/all"),
            http.request("PATCH", "/CreateComponent"),
            http.get("/GetComponent?componentBuildVersionArn=%ff%fe"),
            http.get("/tags/%E0%A4%A"),
            http.put("/CreateComponent", content=json.dumps({"name": ["x"] * 10}).encode()),
        ]
        for response in cases:
            assert 400 <= response.status_code < 500, response.text
            assert response.headers["x-amzn-RequestId"]
            assert response.headers["x-amzn-ErrorType"]
            assert "Traceback" not in response.text
