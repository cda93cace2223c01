"""A pipeline remembers its last run: dateLastRun when started, lastRunStatus as the build goes."""

from __future__ import annotations

from typing import Any

from tests.unit.engine.conftest import container_recipe, wait_for


def test_start_records_the_run_and_the_status_follows_the_build(ib: Any, make_executor: Any):
    made = container_recipe(ib, name="piped")
    pipeline = ib.create_image_pipeline(
        name="piped",
        containerRecipeArn=made["recipe"],
        infrastructureConfigurationArn=made["infra"],
    )["imagePipelineArn"]
    before = ib.get_image_pipeline(imagePipelineArn=pipeline)["imagePipeline"]
    assert "dateLastRun" not in before
    arn = ib.start_image_pipeline_execution(imagePipelineArn=pipeline)["imageBuildVersionArn"]
    started = ib.get_image_pipeline(imagePipelineArn=pipeline)["imagePipeline"]
    assert started["lastRunStatus"] == "PENDING"
    assert started["dateLastRun"]
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE"
    after = ib.get_image_pipeline(imagePipelineArn=pipeline)["imagePipeline"]
    assert after["lastRunStatus"] == "AVAILABLE"
    listed = ib.list_image_pipeline_images(imagePipelineArn=pipeline)["imageSummaryList"]
    assert [i["arn"] for i in listed] == [arn]
