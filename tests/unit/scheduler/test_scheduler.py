"""Pipeline schedules with an injected clock: the right minute in the schedule's time zone
(across DST changes), no second start after a restart, and dependency-update conditions."""

from __future__ import annotations

import threading
import time
from typing import Any

from kiln.app import Kiln
from kiln.engine import queue
from kiln.scheduler import PipelineScheduler
from kiln.scheduler.checkpoint import Checkpoint
from tests.unit.scheduler.conftest import at

COMPONENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Write
        action: ExecuteBash
        inputs:
          commands: ["echo hi > /hi"]
"""
DOCKERFILE = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:components }}}\n"


def _pipeline(
    ib: Any, name: str, expression: str, *, timezone: str = "UTC", condition: str | None = None
) -> dict[str, str]:
    component = ib.create_component(
        name=f"{name}-part", semanticVersion="1.0.0", platform="Linux", data=COMPONENT
    )["componentBuildVersionArn"]
    wildcard = component.rsplit("/", 2)[0] + "/x.x.x"
    recipe = ib.create_container_recipe(
        name=name, semanticVersion="1.0.0", containerType="DOCKER", parentImage="debian:12",
        components=[{"componentArn": wildcard}],
        dockerfileTemplateData=DOCKERFILE,
        targetRepository={"service": "ECR", "repositoryName": f"kiln/{name}"},
    )["containerRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(
        name=f"{name}-infra", instanceProfileName="builder"
    )["infrastructureConfigurationArn"]
    schedule = {"scheduleExpression": expression, "timezone": timezone}
    if condition:
        schedule["pipelineExecutionStartCondition"] = condition
    pipeline = ib.create_image_pipeline(
        name=name, containerRecipeArn=recipe, infrastructureConfigurationArn=infra,
        schedule=schedule,
    )["imagePipelineArn"]  # fmt: skip
    return {"pipeline": pipeline, "component": component}


def _images(ib: Any, pipeline: str) -> list[dict[str, Any]]:
    listed = ib.list_image_pipeline_images(imagePipelineArn=pipeline)["imageSummaryList"]
    return sorted(listed, key=lambda image: image["arn"])


def _fired(runs: list[Any]) -> list[str]:
    return [run.fire_time.isoformat() for run in runs if run.image_arn]


def test_a_daily_schedule_fires_at_nine_paris_time_before_and_after_spring_forward(
    ib: Any, new_scheduler: Any, kiln: Kiln
) -> None:
    made = _pipeline(
        ib, "paris", "cron(0 9 * * ? *)", timezone="Europe/Paris",
        condition="EXPRESSION_MATCH_ONLY",
    )  # fmt: skip
    scheduler = new_scheduler()
    Checkpoint(kiln.data_dir).write(at("2027-03-27 07:58:00"))
    assert _fired(scheduler.tick(at("2027-03-27 07:59:01"))) == []
    assert _fired(scheduler.tick(at("2027-03-27 08:00:01"))) == ["2027-03-27T08:00:00+00:00"]
    assert _fired(scheduler.tick(at("2027-03-27 08:01:01"))) == []
    # 28 March 2027: clocks go forward, nine in Paris is now 07:00 UTC
    assert _fired(scheduler.tick(at("2027-03-28 06:59:01"))) == []
    assert _fired(scheduler.tick(at("2027-03-28 07:00:01"))) == ["2027-03-28T07:00:00+00:00"]
    assert _fired(scheduler.tick(at("2027-03-28 08:00:01"))) == []
    images = _images(ib, made["pipeline"])
    assert len(images) == 2
    image = ib.get_image(imageBuildVersionArn=images[-1]["arn"])["image"]
    assert image["buildType"] == "SCHEDULED"
    assert image["state"]["status"] == "PENDING"
    pipeline = ib.get_image_pipeline(imagePipelineArn=made["pipeline"])["imagePipeline"]
    assert pipeline["dateLastRun"].startswith("2027-03-28T07:00:01")
    assert pipeline["dateNextRun"].startswith("2027-03-29T07:00:00")
    with kiln.database.transaction() as session:
        queued = [item.subject for item in queue.pending_for(session, images[-1]["arn"])]
    assert queued == [images[-1]["arn"]]  # queued for the executor like any start


def test_a_repeated_wall_clock_time_fires_once_when_new_york_falls_back(
    ib: Any, new_scheduler: Any, kiln: Kiln
) -> None:
    _pipeline(
        ib, "nyc", "cron(30 1 * * ? *)", timezone="America/New_York",
        condition="EXPRESSION_MATCH_ONLY",
    )  # fmt: skip
    scheduler = new_scheduler()
    Checkpoint(kiln.data_dir).write(at("2027-11-07 05:00:00"))
    # 7 November 2027: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST)
    assert _fired(scheduler.tick(at("2027-11-07 05:31:00"))) == ["2027-11-07T05:30:00+00:00"]
    assert _fired(scheduler.tick(at("2027-11-07 06:31:00"))) == []
    assert _fired(scheduler.tick(at("2027-11-08 06:31:00"))) == ["2027-11-08T06:30:00+00:00"]


def test_a_restart_does_not_start_a_run_twice_but_catches_up_a_missed_one(
    ib: Any, new_scheduler: Any, kiln: Kiln
) -> None:
    made = _pipeline(ib, "hourly", "cron(0 * * * ? *)", condition="EXPRESSION_MATCH_ONLY")
    checkpoint = Checkpoint(kiln.data_dir)
    checkpoint.write(at("2027-01-10 09:59:00"))
    assert _fired(new_scheduler().tick(at("2027-01-10 10:00:01"))) == ["2027-01-10T10:00:00+00:00"]
    # Kiln died after starting the run but before its checkpoint was written
    checkpoint.write(at("2027-01-10 09:59:00"))
    restarted = new_scheduler()
    assert _fired(restarted.tick(at("2027-01-10 10:00:30"))) == []
    assert len(_images(ib, made["pipeline"])) == 1
    # stopped from 10:01 to 12:30: the 11:00 and 12:00 runs were missed; one run catches up
    assert _fired(new_scheduler().tick(at("2027-01-10 12:30:00"))) == ["2027-01-10T11:00:00+00:00"]
    assert _fired(new_scheduler().tick(at("2027-01-10 12:31:00"))) == []
    assert len(_images(ib, made["pipeline"])) == 2


def test_a_first_start_has_nothing_overdue(ib: Any, new_scheduler: Any, kiln: Kiln) -> None:
    made = _pipeline(ib, "fresh", "cron(* * * * ? *)", condition="EXPRESSION_MATCH_ONLY")
    scheduler = new_scheduler()
    assert scheduler.tick(at("2027-01-10 10:00:30")) == []
    assert Checkpoint(kiln.data_dir).read() == at("2027-01-10 10:00:30")
    assert _fired(scheduler.tick(at("2027-01-10 10:01:30"))) == ["2027-01-10T10:01:00+00:00"]
    assert len(_images(ib, made["pipeline"])) == 1


def test_dependency_updates_condition_builds_first_then_only_when_a_component_changed(
    ib: Any, new_scheduler: Any, kiln: Kiln
) -> None:
    made = _pipeline(ib, "deps", "cron(0 6 * * ? *)")  # the default start condition
    scheduler = new_scheduler()
    Checkpoint(kiln.data_dir).write(at("2027-01-10 05:00:00"))
    first = scheduler.tick(at("2027-01-10 06:00:30"))
    assert _fired(first) == ["2027-01-10T06:00:00+00:00"]
    assert "has not built an image yet" in first[0].reason
    second = scheduler.tick(at("2027-01-11 06:00:30"))
    assert [(run.image_arn, run.reason) for run in second] == [
        (None, "skipped: no dependency updates")
    ]
    newer = ib.create_component(
        name="deps-part", semanticVersion="1.0.1", platform="Linux", data=COMPONENT
    )["componentBuildVersionArn"]
    third = scheduler.tick(at("2027-01-12 06:00:30"))
    assert _fired(third) == ["2027-01-12T06:00:00+00:00"]
    assert newer in third[0].reason
    assert len(_images(ib, made["pipeline"])) == 2


def test_a_failed_last_image_does_not_count_as_built(
    ib: Any, new_scheduler: Any, kiln: Kiln
) -> None:
    made = _pipeline(ib, "retry", "cron(0 6 * * ? *)")
    scheduler = new_scheduler()
    Checkpoint(kiln.data_dir).write(at("2027-01-10 05:00:00"))
    (run,) = scheduler.tick(at("2027-01-10 06:00:30"))
    assert run.image_arn is not None
    ib.cancel_image_creation(imageBuildVersionArn=run.image_arn)
    assert _fired(scheduler.tick(at("2027-01-11 06:00:30"))) == ["2027-01-11T06:00:00+00:00"]
    assert len(_images(ib, made["pipeline"])) == 2


def test_a_disabled_pipeline_is_not_started(ib: Any, new_scheduler: Any, kiln: Kiln) -> None:
    made = _pipeline(ib, "off", "cron(* * * * ? *)", condition="EXPRESSION_MATCH_ONLY")
    pipeline = ib.get_image_pipeline(imagePipelineArn=made["pipeline"])["imagePipeline"]
    ib.update_image_pipeline(
        imagePipelineArn=made["pipeline"], containerRecipeArn=pipeline["containerRecipeArn"],
        infrastructureConfigurationArn=pipeline["infrastructureConfigurationArn"],
        schedule=pipeline["schedule"], status="DISABLED",
    )  # fmt: skip
    scheduler = new_scheduler()
    Checkpoint(kiln.data_dir).write(at("2027-01-10 05:00:00"))
    assert scheduler.tick(at("2027-01-10 06:00:30")) == []
    assert _images(ib, made["pipeline"]) == []


def test_the_thread_ticks_at_start_and_stops_promptly(kiln: Kiln) -> None:
    scheduler = PipelineScheduler(
        kiln.database, kiln.tokens, kiln.data_dir, clock=lambda: at("2027-01-10 10:00:30")
    )
    scheduler.start()
    try:
        checkpoint = Checkpoint(kiln.data_dir)
        deadline = time.monotonic() + 10
        while checkpoint.read() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpoint.read() == at("2027-01-10 10:00:30")
    finally:
        began = time.monotonic()
        scheduler.stop()
    assert time.monotonic() - began < 2
    assert not any(t.name == "kiln-scheduler" for t in threading.enumerate())
