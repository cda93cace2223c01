"""Resource policies (sharing) through an unmodified boto3 client."""

from __future__ import annotations

import json

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kiln.services.imagebuilder import versions
from kiln.services.imagebuilder.errors import InvalidParameterValueException
from kiln.services.imagebuilder.policy_documents import validate_policy
from kiln.store import resources
from tests.api import factories
from tests.conftest import client_for

OTHER = "210987654321"


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def policy(arn, actions, principal=OTHER, **statement):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "share",
                    "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": actions,
                    "Resource": arn,
                    **statement,
                }
            ],
        }
    )


def component(ib):
    return ib.create_component(
        name="tool", semanticVersion="1.0.0", platform="Linux", data=factories.COMPONENT_DOC
    )["componentBuildVersionArn"]


def test_component_policy_round_trip_and_sharing_format(ib, kiln):
    arn = component(ib)
    assert error_of(ib.get_component_policy, componentArn=arn)["Code"] == (
        "ResourceNotFoundException"
    )
    text = policy(arn, ["imagebuilder:GetComponent", "imagebuilder:ListComponents"])
    assert ib.put_component_policy(componentArn=arn, policy=text)["componentArn"] == arn
    assert ib.get_component_policy(componentArn=arn)["policy"] == text
    with kiln.database.transaction() as session:
        row = resources.by_arn(session, arn)
        assert versions.shared_with(row, OTHER)
        assert not versions.shared_with(row, "999999999999")
    replaced = policy(arn, "imagebuilder:GetComponent", principal=[f"arn:aws:iam::{OTHER}:root"])
    ib.put_component_policy(componentArn=arn, policy=replaced)
    assert ib.get_component_policy(componentArn=arn)["policy"] == replaced


@pytest.mark.parametrize(
    ("make", "fault"),
    [
        (lambda arn: "not json", "not valid JSON"),
        (lambda arn: "[1, 2]", "JSON object"),
        (
            lambda arn: json.dumps(
                {"Statement": json.loads(policy(arn, "imagebuilder:GetComponent"))["Statement"]}
            ),
            "Version",
        ),
        (lambda arn: json.dumps({"Version": "2012-10-17", "Statement": {}}), "Statement"),
        (
            lambda arn: policy(arn, ["imagebuilder:GetComponent", "imagebuilder:DeleteComponent"]),
            "'imagebuilder:DeleteComponent' is not allowed",
        ),
        (lambda arn: policy(arn, "imagebuilder:*"), "'imagebuilder:*' is not allowed"),
        (lambda arn: policy(arn, "imagebuilder:GetImage"), "'imagebuilder:GetImage'"),
        (lambda arn: policy(arn, "imagebuilder:GetComponent", principal="*"), "principal '*'"),
        (
            lambda arn: policy(arn, "imagebuilder:GetComponent", Effect="Deny"),
            "Effect must be Allow",
        ),
        (
            lambda arn: policy(arn.replace("/tool/", "/other/"), "imagebuilder:GetComponent"),
            "does not name",
        ),
        (
            lambda arn: policy(arn, "imagebuilder:GetComponent", Condition={"Bool": {"a": "b"}}),
            "unknown element 'Condition'",
        ),
    ],
)
def test_invalid_policies_are_refused(ib, make, fault):
    arn = component(ib)
    error = error_of(ib.put_component_policy, componentArn=arn, policy=make(arn))
    assert error["Code"] == "InvalidParameterValueException"
    assert fault in error["Message"], error["Message"]
    assert error_of(ib.get_component_policy, componentArn=arn)["Code"] == (
        "ResourceNotFoundException"
    )


def test_policy_length_limit(ib, endpoint, admin):
    arn = component(ib)
    text = policy(arn, "imagebuilder:GetComponent")
    padded = text[:-1] + " " * (30001 - len(text)) + "}"
    loose = client_for(endpoint, admin, config=Config(parameter_validation=False))
    error = error_of(loose.put_component_policy, componentArn=arn, policy=padded)
    assert error["Code"] == "InvalidParameterValueException"
    assert "30000" in error["Message"]
    with pytest.raises(InvalidParameterValueException, match="at most 30000"):
        validate_policy(padded, resource_type="component", resource_arn=arn)


def test_missing_resources_are_not_found(ib, kiln):
    account = kiln.default_account
    ghost = f"arn:aws:imagebuilder:us-east-1:{account}:component/ghost/1.0.0/1"
    text = policy(ghost, "imagebuilder:GetComponent")
    for call in (
        lambda: ib.put_component_policy(componentArn=ghost, policy=text),
        lambda: ib.get_component_policy(componentArn=ghost),
        lambda: ib.get_image_policy(imageArn=ghost.replace(":component/", ":image/")),
        lambda: ib.get_image_recipe_policy(
            imageRecipeArn=f"arn:aws:imagebuilder:us-east-1:{account}:image-recipe/ghost/1.0.0"
        ),
        lambda: ib.get_container_recipe_policy(
            containerRecipeArn=f"arn:aws:imagebuilder:us-east-1:{account}:container-recipe/g/1.0.0"
        ),
    ):
        assert error_of(call)["Code"] == "ResourceNotFoundException"


def test_image_and_recipe_policies(ib, kiln):
    image = factories.add_image(kiln)
    text = policy(image, ["imagebuilder:GetImage", "imagebuilder:ListImages"])
    assert ib.put_image_policy(imageArn=image, policy=text)["imageArn"] == image
    assert ib.get_image_policy(imageArn=image)["policy"] == text

    recipe = factories.add_image_recipe(kiln)
    wrong = policy(recipe, "imagebuilder:GetImage")
    error = error_of(ib.put_image_recipe_policy, imageRecipeArn=recipe, policy=wrong)
    assert "'imagebuilder:GetImage' is not allowed" in error["Message"]
    text = policy(recipe, "imagebuilder:GetImageRecipe")
    assert ib.put_image_recipe_policy(imageRecipeArn=recipe, policy=text)["imageRecipeArn"] == (
        recipe
    )
    assert ib.get_image_recipe_policy(imageRecipeArn=recipe)["policy"] == text
    wildcard = recipe.rsplit("/", 1)[0] + "/1.x.x"
    error = error_of(ib.put_image_recipe_policy, imageRecipeArn=wildcard, policy=text)
    assert error["Code"] == "InvalidParameterValueException"

    container = factories.add_container_recipe(kiln)
    text = policy(
        container, ["imagebuilder:GetContainerRecipe", "imagebuilder:ListContainerRecipes"]
    )
    ib.put_container_recipe_policy(containerRecipeArn=container, policy=text)
    assert ib.get_container_recipe_policy(containerRecipeArn=container)["policy"] == text


def test_sharing_between_two_accounts(ib, kiln):
    factories.add_account(kiln, OTHER)
    theirs = factories.add_component(kiln, account=OTHER)
    assert ib.list_components(owner="Shared")["componentVersionList"] == []
    hidden = error_of(ib.get_component, componentBuildVersionArn=theirs)["Code"]
    assert hidden in ("ResourceNotFoundException", "AccessDeniedException")

    # the owner shares it with the caller's account, in the format Put*Policy accepts
    text = policy(
        theirs,
        ["imagebuilder:GetComponent", "imagebuilder:ListComponents"],
        principal=kiln.default_account,
    )
    validate_policy(text, resource_type="component", resource_arn=theirs)
    with kiln.database.transaction() as session:
        resources.by_arn(session, theirs).policy = text

    shared = ib.list_components(owner="Shared")["componentVersionList"]
    assert [c["arn"] for c in shared] == [theirs.rsplit("/", 1)[0]]
    assert ib.get_component(componentBuildVersionArn=theirs)["component"]["owner"] == OTHER
    assert ib.list_components()["componentVersionList"] == []
    # only the owner reads or changes the policy
    for call in (
        lambda: ib.get_component_policy(componentArn=theirs),
        lambda: ib.put_component_policy(componentArn=theirs, policy=text),
    ):
        assert error_of(call)["Code"] in ("ForbiddenException", "AccessDeniedException")
