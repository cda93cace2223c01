"""GetMarketplaceResource: a Kiln deployment has no Marketplace products."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from kiln.cli.serving import background_server
from tests.api.test_lifecycle_runs import registry
from tests.conftest import client_for

ARN = "arn:aws:imagebuilder:us-east-1:aws-marketplace:component/some-product/1.0.0/1"


@pytest.fixture
def lc(kiln, admin):
    kiln.registries["imagebuilder"] = registry()
    with background_server(kiln) as url:
        yield client_for(url, admin)


@pytest.mark.parametrize("resource_type", ["COMPONENT_DATA", "COMPONENT_ARTIFACT"])
def test_every_marketplace_resource_is_not_found(lc, resource_type):
    with pytest.raises(ClientError) as caught:
        lc.get_marketplace_resource(resourceType=resource_type, resourceArn=ARN)
    error = caught.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    assert ARN in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_the_request_is_still_validated(lc):
    with pytest.raises(ClientError) as caught:
        lc.get_marketplace_resource(
            resourceType="COMPONENT_DATA", resourceArn=ARN, resourceLocation="not-s3"
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
