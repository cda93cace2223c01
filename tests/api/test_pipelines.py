"""Image pipelines through an unmodified boto3 client (recipes and configurations are rows
written by tests/api/factories.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from tests.api import factories
from tests.conftest import make_execution_role, make_instance_profile

BUILD_WITH_PARAMS = """
schemaVersion: 1.0
parameters:
  - name: retries
    type: integer
  - name: verbose
    type: boolean
    default: false
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    onFailure: Abort
    inputs:
      waitFor: "ssmAgent"
"""


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


@pytest.fixture
def parts(kiln):
    return {
        "imageRecipeArn": factories.add_image_recipe(kiln),
        "infrastructureConfigurationArn": factories.add_infrastructure(kiln),
    }


def create(ib, parts, name="nightly", **extra):
    return ib.create_image_pipeline(name=name, **parts, **extra)


def test_create_get_with_defaults(ib, kiln, parts, endpoint, admin):
    distribution = factories.add_distribution(kiln)
    role = make_execution_role(endpoint, admin, "pipeline")
    arn = create(
        ib,
        parts,
        name="Nightly Web",
        description="nightly",
        distributionConfigurationArn=distribution,
        tags={"team": "a"},
        imageTags={"built-by": "kiln"},
        executionRole=role,
    )["imagePipelineArn"]
    assert arn.endswith(":image-pipeline/nightly-web")
    pipeline = ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]
    assert pipeline["name"] == "Nightly Web"
    assert pipeline["platform"] == "Linux"
    assert pipeline["imageRecipeArn"] == parts["imageRecipeArn"]
    assert pipeline["distributionConfigurationArn"] == distribution
    assert pipeline["imageTestsConfiguration"] == {"imageTestsEnabled": True, "timeoutMinutes": 720}
    assert pipeline["enhancedImageMetadataEnabled"] is True
    assert pipeline["status"] == "ENABLED"
    assert pipeline["tags"] == {"team": "a"}
    assert pipeline["imageTags"] == {"built-by": "kiln"}
    assert "dateNextRun" not in pipeline and "schedule" not in pipeline
    assert error_of(create, ib, parts, name="Nightly Web")["Code"] == (
        "ResourceAlreadyExistsException"
    )


def test_schedule_and_next_run(ib, parts):
    arn = create(
        ib,
        parts,
        schedule={"scheduleExpression": "cron(30 4 ? * MON *)", "timezone": "Europe/Paris"},
    )["imagePipelineArn"]
    pipeline = ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]
    schedule = pipeline["schedule"]
    assert schedule["pipelineExecutionStartCondition"] == (
        "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE"
    )
    next_run = dt.datetime.fromisoformat(pipeline["dateNextRun"].replace("Z", "+00:00"))
    local = next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.weekday(), local.hour, local.minute) == (0, 4, 30)
    now = dt.datetime.now(dt.UTC)
    assert now < next_run <= now + dt.timedelta(days=7, minutes=1)

    for bad, fault in (
        ({"scheduleExpression": "rate(1 day)"}, "cron"),
        ({"scheduleExpression": "cron(0 0 * * * *)"}, "?"),
        ({"scheduleExpression": "cron(0 0 * * ? *)", "timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "UTC"}, "scheduleExpression"),
    ):
        error = error_of(create, ib, parts, name="bad-schedule", schedule=bad)
        assert error["Code"] == "InvalidParameterValueException", bad
        assert fault in error["Message"]


def test_disabled_pipelines_have_no_next_run(ib, parts):
    arn = create(
        ib, parts, status="DISABLED", schedule={"scheduleExpression": "cron(0 0 * * ? *)"}
    )["imagePipelineArn"]
    assert "dateNextRun" not in ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]


def test_recipe_rules(ib, kiln, parts):
    container = factories.add_container_recipe(kiln)
    both = error_of(create, ib, {**parts, "containerRecipeArn": container})
    assert both["Code"] == "InvalidParameterCombinationException"
    neither = error_of(
        ib.create_image_pipeline,
        name="none",
        infrastructureConfigurationArn=parts["infrastructureConfigurationArn"],
    )
    assert neither["Code"] == "InvalidParameterCombinationException"
    arn = create(
        ib,
        {
            "containerRecipeArn": container,
            **{k: v for k, v in parts.items() if k != "imageRecipeArn"},
        },
        name="containers",
    )["imagePipelineArn"]
    assert ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]["containerRecipeArn"] == (
        container
    )


def test_missing_references_are_named(ib, kiln, parts):
    account = kiln.default_account
    ghost_recipe = f"arn:aws:imagebuilder:us-east-1:{account}:image-recipe/ghost/1.0.0"
    ghost_infra = f"arn:aws:imagebuilder:us-east-1:{account}:infrastructure-configuration/ghost"
    ghost_dist = f"arn:aws:imagebuilder:us-east-1:{account}:distribution-configuration/ghost"
    for override, ghost in (
        ({"imageRecipeArn": ghost_recipe}, ghost_recipe),
        ({"infrastructureConfigurationArn": ghost_infra}, ghost_infra),
        ({"distributionConfigurationArn": ghost_dist}, ghost_dist),
    ):
        error = error_of(create, ib, {**parts, **override})
        assert error["Code"] == "ResourceNotFoundException"
        assert ghost in error["Message"]
    assert ib.list_image_pipelines()["imagePipelineList"] == []


def test_wildcard_recipe_selects_latest(ib, kiln, parts):
    factories.add_image_recipe(kiln, version="1.2.0")
    latest = factories.add_image_recipe(kiln, version="1.10.0")
    wildcard = parts["imageRecipeArn"].rsplit("/", 1)[0] + "/1.x.x"
    arn = create(ib, {**parts, "imageRecipeArn": wildcard})["imagePipelineArn"]
    assert ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]["imageRecipeArn"] == (
        wildcard
    )
    # the pipeline uses 1.10.0 now: deleting that version is refused
    error = error_of(ib.delete_image_recipe, imageRecipeArn=latest)
    assert error["Code"] == "ResourceDependencyException"
    assert arn in error["Message"]


def test_workflows_are_resolved_and_checked(ib, kiln, parts):
    custom = ib.create_workflow(
        name="custom", semanticVersion="1.0.0", type="BUILD", data=BUILD_WITH_PARAMS
    )["workflowBuildVersionArn"]
    managed_test = "arn:aws:imagebuilder:us-east-1:aws:workflow/test/test-image/x.x.x"
    workflows = [
        {"workflowArn": custom, "parameters": [{"name": "retries", "value": ["3"]}]},
        {"workflowArn": managed_test, "parallelGroup": "group-a", "onFailure": "CONTINUE"},
    ]
    arn = create(ib, parts, workflows=workflows)["imagePipelineArn"]
    assert ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]["workflows"] == workflows

    error = error_of(ib.delete_workflow, workflowBuildVersionArn=custom)
    assert error["Code"] == "ResourceDependencyException" and arn in error["Message"]

    for bad, fault in (
        ([{"workflowArn": custom}], "'retries' has no default"),
        (
            [{"workflowArn": custom, "parameters": [{"name": "retries", "value": ["many"]}]}],
            "not an integer",
        ),
        (
            [
                {
                    "workflowArn": custom,
                    "parameters": [
                        {"name": "retries", "value": ["1"]},
                        {"name": "colour", "value": ["red"]},
                    ],
                }
            ],
            "no parameter 'colour'",
        ),
        (
            [
                {
                    "workflowArn": custom,
                    "parallelGroup": "g",
                    "parameters": [{"name": "retries", "value": ["1"]}],
                }
            ],
            "parallelGroup applies to TEST",
        ),
    ):
        response = error_of(create, ib, parts, name="bad-workflows", workflows=bad)
        assert response["Code"] == "InvalidParameterValueException"
        assert fault in response["Message"], response["Message"]
    ghost = custom.replace("/custom/", "/ghost/")
    response = error_of(create, ib, parts, name="bad-workflows", workflows=[{"workflowArn": ghost}])
    assert response["Code"] == "ResourceNotFoundException"

    # after the pipeline stops using the workflow, it can be deleted
    ib.update_image_pipeline(imagePipelineArn=arn, **parts, workflows=workflows[1:])
    ib.delete_workflow(workflowBuildVersionArn=custom)


def test_update_replaces_and_moves_references(ib, kiln, parts):
    distribution = factories.add_distribution(kiln)
    arn = create(
        ib,
        parts,
        description="first",
        distributionConfigurationArn=distribution,
        imageTestsConfiguration={"timeoutMinutes": 90},
        tags={"keep": "me"},
    )["imagePipelineArn"]
    before = ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]
    assert before["imageTestsConfiguration"] == {"imageTestsEnabled": True, "timeoutMinutes": 90}
    other_recipe = factories.add_image_recipe(kiln, name="api")
    ib.update_image_pipeline(
        imagePipelineArn=arn,
        imageRecipeArn=other_recipe,
        infrastructureConfigurationArn=parts["infrastructureConfigurationArn"],
        enhancedImageMetadataEnabled=False,
        status="DISABLED",
    )
    after = ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]
    assert after["imageRecipeArn"] == other_recipe
    assert "description" not in after and "distributionConfigurationArn" not in after
    assert after["enhancedImageMetadataEnabled"] is False
    assert after["status"] == "DISABLED"
    assert after["dateCreated"] == before["dateCreated"] and "dateUpdated" in after
    assert after["tags"] == {"keep": "me"}
    # the pipeline no longer uses the distribution configuration: it can be deleted
    ib.delete_distribution_configuration(distributionConfigurationArn=distribution)

    container = factories.add_container_recipe(kiln)
    switch = error_of(
        ib.update_image_pipeline,
        imagePipelineArn=arn,
        containerRecipeArn=container,
        infrastructureConfigurationArn=parts["infrastructureConfigurationArn"],
    )
    assert switch["Code"] == "InvalidParameterCombinationException"
    ghost = arn.replace("/nightly", "/ghost")
    assert error_of(ib.update_image_pipeline, imagePipelineArn=ghost, **parts)["Code"] == (
        "ResourceNotFoundException"
    )


def test_configurations_in_use_cannot_be_deleted(ib, kiln, parts):
    arn = create(ib, parts)["imagePipelineArn"]
    error = error_of(
        ib.delete_infrastructure_configuration,
        infrastructureConfigurationArn=parts["infrastructureConfigurationArn"],
    )
    assert error["Code"] == "ResourceDependencyException" and arn in error["Message"]
    ib.delete_image_pipeline(imagePipelineArn=arn)
    ib.delete_infrastructure_configuration(
        infrastructureConfigurationArn=parts["infrastructureConfigurationArn"]
    )


def test_list_filters_and_pagination(ib, kiln, parts):
    other = factories.add_image_recipe(kiln, name="api")
    for i in range(5):
        create(ib, parts, name=f"pipe-{i}", status="DISABLED" if i % 2 else "ENABLED")
    create(ib, {**parts, "imageRecipeArn": other}, name="api-pipe")
    seen = []
    pages = ib.get_paginator("list_image_pipelines").paginate(PaginationConfig={"PageSize": 2})
    for page in pages:
        assert len(page["imagePipelineList"]) <= 2
        seen += [p["name"] for p in page["imagePipelineList"]]
    assert sorted(seen) == sorted(["api-pipe"] + [f"pipe-{i}" for i in range(5)])
    by_status = ib.list_image_pipelines(filters=[{"name": "status", "values": ["DISABLED"]}])
    assert sorted(p["name"] for p in by_status["imagePipelineList"]) == ["pipe-1", "pipe-3"]
    by_recipe = ib.list_image_pipelines(filters=[{"name": "imageRecipeArn", "values": [other]}])
    assert [p["name"] for p in by_recipe["imagePipelineList"]] == ["api-pipe"]
    assert (
        error_of(ib.list_image_pipelines, filters=[{"name": "colour", "values": ["x"]}])["Code"]
        == "InvalidParameterValueException"
    )


def test_pipeline_images_and_delete(ib, kiln, parts):
    arn = create(ib, parts, clientToken="once")["imagePipelineArn"]
    assert create(ib, parts, clientToken="once")["imagePipelineArn"] == arn
    assert error_of(create, ib, parts, name="other", clientToken="once")["Code"] == (
        "IdempotentParameterMismatchException"
    )
    done = factories.add_image(kiln, pipeline_arn=arn)
    building = factories.add_image(kiln, pipeline_arn=arn, status="BUILDING")
    factories.add_image(kiln, name="unrelated")
    listed = ib.list_image_pipeline_images(imagePipelineArn=arn)["imageSummaryList"]
    assert [i["arn"] for i in listed] == [done, building]
    first = ib.list_image_pipeline_images(imagePipelineArn=arn, maxResults=1)
    assert [i["arn"] for i in first["imageSummaryList"]] == [done]
    rest = ib.list_image_pipeline_images(imagePipelineArn=arn, nextToken=first["nextToken"])
    assert [i["arn"] for i in rest["imageSummaryList"]] == [building]

    error = error_of(ib.delete_image_pipeline, imagePipelineArn=arn)
    assert error["Code"] == "ResourceDependencyException" and building in error["Message"]
    with kiln.database.transaction() as session:
        from kiln.store import resources

        row = resources.by_arn(session, building)
        row.body = {**row.body, "state": {"status": "FAILED", "reason": "test"}}
    assert ib.delete_image_pipeline(imagePipelineArn=arn)["imagePipelineArn"] == arn
    assert error_of(ib.get_image_pipeline, imagePipelineArn=arn)["Code"] == (
        "ResourceNotFoundException"
    )
    assert error_of(ib.list_image_pipeline_images, imagePipelineArn=arn)["Code"] == (
        "ResourceNotFoundException"
    )
    # the images stay: deleting a pipeline does not delete what it built
    assert ib.get_image(imageBuildVersionArn=done)["image"]["arn"] == done


def test_end_to_end_through_the_api(ib, endpoint, admin):
    component = ib.create_component(
        name="hello", semanticVersion="1.0.0", platform="Linux", data=factories.COMPONENT_DOC
    )["componentBuildVersionArn"]
    recipe = ib.create_image_recipe(
        name="api-web",
        semanticVersion="1.0.0",
        parentImage="arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x",
        components=[{"componentArn": component}],
    )["imageRecipeArn"]
    make_instance_profile(endpoint, admin, "kiln-builder")
    infrastructure = ib.create_infrastructure_configuration(
        name="api-builders", instanceProfileName="kiln-builder"
    )["infrastructureConfigurationArn"]
    arn = ib.create_image_pipeline(
        name="api-pipeline", imageRecipeArn=recipe, infrastructureConfigurationArn=infrastructure
    )["imagePipelineArn"]
    assert ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]["platform"] == "Linux"
    assert error_of(ib.delete_image_recipe, imageRecipeArn=recipe)["Code"] == (
        "ResourceDependencyException"
    )
    ib.delete_image_pipeline(imagePipelineArn=arn)
    ib.delete_image_recipe(imageRecipeArn=recipe)
    ib.delete_infrastructure_configuration(infrastructureConfigurationArn=infrastructure)
