"""The conformance hook of tests/api/conftest.py: it finds what does not fit the output shape,
and it is installed on the clients the API tests make."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from kiln.cli.serving import background_server
from kiln.protocol.model import service_model
from kiln.services.dispatch import ServiceRegistry
from kiln.services.imagebuilder import FAMILIES
from tests.api.conftest import ConformanceViolation, body_violations
from tests.conftest import client_for

MODEL = botocore.session.get_session().get_service_model("imagebuilder")


def violations(operation: str, body: Any) -> list[str]:
    return body_violations(MODEL.operation_model(operation), json.dumps(body).encode())


def test_a_conforming_body_passes():
    body = {
        "lifecyclePolicy": {
            "arn": "arn:aws:imagebuilder:us-east-1:123456789012:lifecycle-policy/p",
            "status": "ENABLED",
            "dateCreated": 1700000000.5,
            "policyDetails": [
                {"action": {"type": "DELETE"}, "filter": {"type": "COUNT", "value": 3}}
            ],
            "tags": {"a": "b"},
        },
    }
    assert violations("GetLifecyclePolicy", body) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"surprise": 1},
            "GetLifecyclePolicy: surprise: not a member of GetLifecyclePolicyResponse",
        ),
        (
            {"lifecyclePolicy": {"policyDetails": [{"action": {"type": "DELETE"}}]}},
            "lifecyclePolicy.policyDetails[0].filter: required by LifecyclePolicyDetail",
        ),
        (
            {"lifecyclePolicy": {"resourceSelection": {"recipes": [{"name": "w", "x": 1}]}}},
            "lifecyclePolicy.resourceSelection.recipes[0].x: not a member",
        ),
        (
            {"lifecyclePolicy": {"dateCreated": "2024-01-01"}},
            "lifecyclePolicy.dateCreated: expected timestamp",
        ),
        ({"lifecyclePolicy": {"status": "ON"}}, "'ON' is not one of LifecyclePolicyStatus"),
        ({"lifecyclePolicy": {"tags": {"a": 1}}}, "lifecyclePolicy.tags['a']: expected string"),
        ({"lifecyclePolicy": []}, "lifecyclePolicy: expected an object"),
    ],
)
def test_violations_name_their_path(body, expected):
    found = violations("GetLifecyclePolicy", body)
    assert any(expected in problem for problem in found), found


def test_booleans_are_not_numbers():
    body = {"image": {"enhancedImageMetadataEnabled": 1}}
    assert violations("GetImage", body)
    body = {"image": {"deprecationTime": True}}
    assert violations("GetImage", body)


def broken_get_lifecycle_policy(ctx, params):
    return {"lifecyclePolicy": {"arn": params["lifecyclePolicyArn"], "dateCreated": "yesterday"}}


class Broken:
    get_lifecycle_policy = staticmethod(broken_get_lifecycle_policy)


def test_the_hook_fails_a_nonconforming_response(kiln, admin, conformance):
    names = service_model("imagebuilder").operation_names
    kiln.registries["imagebuilder"] = ServiceRegistry.collect(
        "imagebuilder", names, (Broken, *FAMILIES), planned={}
    )
    arn = f"arn:aws:imagebuilder:us-east-1:{kiln.default_account}:lifecycle-policy/p"
    with background_server(kiln) as url:
        ib = client_for(url, admin)
        with pytest.raises(ConformanceViolation, match=r"lifecyclePolicy\.dateCreated"):
            ib.get_lifecycle_policy(lifecyclePolicyArn=arn)
        assert ib.list_lifecycle_policies()["lifecyclePolicySummaryList"] == []
    assert len(conformance) == 1
    conformance.clear()
