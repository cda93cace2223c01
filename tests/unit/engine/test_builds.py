"""Container recipe builds through the API with a FakeBuildHost: the happy path, failures,
onFailure Continue, WaitForAction park/resume/stop, cancellation, retry and recovery."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.engine import ledger
from kiln.engine.fakes import FakeBuildHost
from kiln.executors.threads import INTERRUPTED
from tests.unit.engine.conftest import (
    WAITING_BUILD,
    container_recipe,
    wait_for,
    wait_until,
)


def _steps(ib: Any, arn: str) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for execution in ib.list_workflow_executions(imageBuildVersionArn=arn)["workflowExecutions"]:
        steps = ib.list_workflow_step_executions(
            workflowExecutionId=execution["workflowExecutionId"]
        )["steps"]
        found[execution["type"]] = steps
    return found


def test_container_build_runs_the_dockerfile_and_components_and_ends_available(
    ib: Any, make_executor: Any, host: FakeBuildHost, kiln: Kiln
) -> None:
    made = container_recipe(ib)
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    assert ib.get_image(imageBuildVersionArn=arn)["image"]["state"]["status"] == "PENDING"
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["type"] == "DOCKER"
    containers = image["outputResources"]["containers"]
    assert containers[0]["region"] == "us-east-1"
    assert containers[0]["imageUris"] == [f"oci:{kiln.data_dir / 'registry' / 'kiln/app'}:1.0.0-1"]
    ((build_id, committed, changes),) = host.commits
    assert committed == "localhost/kiln/build/app:1.0.0-1"
    assert changes == (
        "ENV MODE=prod",
        "WORKDIR /srv",
        'LABEL team="kiln"',
        "EXPOSE 8080",
        'CMD ["/bin/sh"]',
    )
    build = host.instances[build_id]
    assert build.image == "localhost/kiln/debian:12" and build.instance_type == "t3.small"
    runs = [c for c in build.comm.calls if c.argv[:2] == ("/bin/sh", "-c")]
    assert runs[-1].argv[2] == "echo built > /srv/marker"
    assert runs[-1].env == {"MODE": "prod"} and runs[-1].cwd == "/srv"
    assert any(b"echo bonjour > /greeting" in data for data in build.comm.files.values())
    tests = [i for i in host.instances.values() if i.image == committed]
    assert len(tests) == 1 and tests[0].terminated
    assert not host.running()
    assert committed in host.removed_images  # the local build image is swept once distributed
    steps = _steps(ib, arn)
    assert [s["name"] for s in steps["BUILD"]] == [
        "LaunchBuildInstance",
        "BootstrapBuildInstance",
        "ApplyBuildComponents",
        "TerminateBuildInstance",
    ]
    statuses = {s["name"]: s["status"] for t in steps.values() for s in t}
    assert statuses.pop("CollectImageScanFindings") == "SKIPPED"  # imageScanning not enabled
    assert set(statuses.values()) == {"COMPLETED"}
    with kiln.database.transaction() as session:
        assert ledger.outstanding(session, arn) == []
    logs = kiln.data_dir / "logs" / kiln.default_account / "us-east-1" / "app" / "1.0.0" / "1"
    assert list(logs.glob("build-ApplyBuildComponents/TOE_*/console.log"))


def test_a_failing_test_phase_fails_the_image_naming_the_step_and_rolls_back(
    ib: Any, make_executor: Any, host: FakeBuildHost
) -> None:
    made = container_recipe(ib)
    host.script(["bash"], 1, image="localhost/kiln/build/app:1.0.0-1")
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    reason = image["state"].get("reason", "")
    assert image["state"]["status"] == "FAILED", image
    assert "TEST workflow failed" in reason and "ApplyTestComponents" in reason, reason
    assert not host.running()
    test = _steps(ib, arn)["TEST"]
    assert [s["status"] for s in test][:4] == ["COMPLETED", "COMPLETED", "SKIPPED", "FAILED"]
    assert test[0]["rollbackStatus"] == "COMPLETED"  # LaunchTestInstance rolled back


def test_terminate_instance_on_failure_false_keeps_the_instance_and_says_how_to_get_in(
    ib: Any, make_executor: Any, host: FakeBuildHost
) -> None:
    made = container_recipe(ib, template="FROM {{{ imagebuilder:parentImage }}}\nRUN false\n")
    ib.update_infrastructure_configuration(
        infrastructureConfigurationArn=made["infra"], instanceProfileName="builder",
        terminateInstanceOnFailure=False,
    )  # fmt: skip
    host.script(["/bin/sh", "-c", "false"], 1)
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    reason = image["state"]["reason"]
    assert "ApplyBuildComponents" in reason and "`false` exited with 1" in reason, reason
    (kept,) = host.running()
    assert f"fake exec -it {kept.id} bash" in reason


def test_wait_for_action_parks_and_resume_continues(
    ib: Any, make_executor: Any, host: FakeBuildHost
) -> None:
    made = container_recipe(ib)
    workflow = ib.create_workflow(
        name="approve", semanticVersion="1.0.0", type="BUILD", data=WAITING_BUILD
    )["workflowBuildVersionArn"]
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"],
        workflows=[{"workflowArn": workflow}],
    )["imageBuildVersionArn"]  # fmt: skip
    with make_executor():
        wait_until(lambda: bool(ib.list_waiting_workflow_steps()["steps"]))
        (waiting,) = ib.list_waiting_workflow_steps()["steps"]
        assert waiting["imageBuildVersionArn"] == arn and waiting["action"] == "WaitForAction"
        assert ib.get_image(imageBuildVersionArn=arn)["image"]["state"]["status"] == "BUILDING"
        assert len(host.running()) == 1  # the build instance waits with the build
        ib.send_workflow_step_action(
            stepExecutionId=waiting["stepExecutionId"], imageBuildVersionArn=arn,
            action="RESUME", reason="looks good",
        )  # fmt: skip
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    step = ib.get_workflow_step_execution(stepExecutionId=waiting["stepExecutionId"])
    assert step["status"] == "COMPLETED" and '"RESUME"' in step["outputs"]
    assert not host.running()


def test_stop_action_fails_the_build_and_rolls_back(
    ib: Any, make_executor: Any, host: FakeBuildHost
) -> None:
    made = container_recipe(ib)
    workflow = ib.create_workflow(
        name="approve", semanticVersion="1.0.0", type="BUILD", data=WAITING_BUILD
    )["workflowBuildVersionArn"]
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"],
        workflows=[{"workflowArn": workflow}],
    )["imageBuildVersionArn"]  # fmt: skip
    with make_executor():
        wait_until(lambda: bool(ib.list_waiting_workflow_steps()["steps"]))
        (waiting,) = ib.list_waiting_workflow_steps()["steps"]
        ib.send_workflow_step_action(
            stepExecutionId=waiting["stepExecutionId"], imageBuildVersionArn=arn,
            action="STOP", reason="not today",
        )  # fmt: skip
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert "Approve" in image["state"]["reason"] and "not today" in image["state"]["reason"]
    assert not host.running()
    build = _steps(ib, arn)["BUILD"]
    assert [s["rollbackStatus"] for s in build if "rollbackStatus" in s] == ["COMPLETED"]


def test_cancel_stops_a_running_build_and_cleans_up(
    ib: Any, make_executor: Any, host: FakeBuildHost, kiln: Kiln
) -> None:
    made = container_recipe(ib)
    host.gate = threading.Event()
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    with make_executor():
        assert host.entered.wait(10)
        ib.cancel_image_creation(imageBuildVersionArn=arn)
        image = wait_for(ib, arn, {"CANCELLED"})
        wait_until(lambda: not host.running())
        execution = ib.list_workflow_executions(imageBuildVersionArn=arn)["workflowExecutions"][0]
        wait_until(
            lambda: (
                ib.get_workflow_execution(workflowExecutionId=execution["workflowExecutionId"])[
                    "status"
                ]
                == "CANCELLED"
            )
        )
    assert image["state"]["reason"].startswith("The image build was cancelled")
    with pytest.raises(ib.exceptions.ResourceInUseException):
        ib.cancel_image_creation(imageBuildVersionArn=arn)
    with kiln.database.transaction() as session:
        assert ledger.outstanding(session, arn) == []


def test_retry_runs_a_failed_image_again(ib: Any, make_executor: Any, host: FakeBuildHost) -> None:
    made = container_recipe(ib)
    host.fail_launch = "no capacity"
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    with make_executor():
        image = wait_for(ib, arn, {"FAILED"})
        assert "LaunchBuildInstance" in image["state"]["reason"]
        assert "no capacity" in image["state"]["reason"]
        host.fail_launch = None
        ib.retry_image(imageBuildVersionArn=arn)
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE"
    assert len(ib.list_workflow_executions(imageBuildVersionArn=arn)["workflowExecutions"]) == 3
    with pytest.raises(ib.exceptions.ResourceInUseException):
        ib.retry_image(imageBuildVersionArn=arn)


def test_restart_recovery_fails_the_interrupted_build_and_sweeps_its_ledger(
    ib: Any, make_executor: Any, host: FakeBuildHost, kiln: Kiln
) -> None:
    made = container_recipe(ib)
    host.gate = threading.Event()
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    first = make_executor(lease=0.6)
    first.start()
    assert host.entered.wait(10)
    assert ib.get_image(imageBuildVersionArn=arn)["image"]["state"]["status"] == "BUILDING"
    # Kiln dies: its heartbeats stop and nothing of it cleans up (simulated by stopping the
    # lease owner's heartbeat: the item keeps a lease that lapses).
    first.owner = "gone-host:1:dead"
    wait_until(lambda: _lease_lapsed(kiln, arn), timeout=10)
    second = make_executor()
    assert second.recover() == [arn]
    image = ib.get_image(imageBuildVersionArn=arn)["image"]
    assert image["state"] == {"status": "FAILED", "reason": INTERRUPTED}
    assert not host.running()
    with kiln.database.transaction() as session:
        assert ledger.outstanding(session, arn) == []
    host.gate.set()


def _lease_lapsed(kiln: Kiln, arn: str) -> bool:
    from kiln.core.clock import utcnow
    from kiln.engine import queue
    from kiln.executors.threads import _lapsed

    with kiln.database.transaction() as session:
        return any(
            row.subject == arn and _lapsed(row.lease_expires_at, utcnow())
            for row in queue.running(session)
        )


CONTINUE_AND_ROLLBACK = """schemaVersion: 1.0
steps:
  - name: LaunchFirst
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: LaunchSecond
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Optional
    action: RunCommand
    onFailure: Continue
    inputs:
      instanceId.$: "$.stepOutputs.LaunchFirst.instanceId"
      documentName: AWS-RunShellScript
      parameters:
        commands: ["exit 3"]
  - name: Skipped
    action: SanitizeInstance
    if:
      stringEquals: "AMI"
      value: "$.imagebuilder.imageType"
    inputs:
      instanceId.$: "$.stepOutputs.LaunchFirst.instanceId"
  - name: Breaks
    action: RunCommand
    inputs:
      instanceId.$: "$.stepOutputs.LaunchSecond.instanceId"
      documentName: AWS-RunShellScript
      parameters:
        commands: ["exit 4"]
"""


def test_on_failure_continue_skips_and_rollback_in_reverse_order(
    ib: Any, make_executor: Any, host: FakeBuildHost
) -> None:
    made = container_recipe(ib)
    host.script(["/bin/sh", "-c", "exit 3"], 3)
    host.script(["/bin/sh", "-c", "exit 4"], 4)
    workflow = ib.create_workflow(
        name="rollback", semanticVersion="1.0.0", type="BUILD", data=CONTINUE_AND_ROLLBACK
    )["workflowBuildVersionArn"]
    arn = ib.create_image(
        containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"],
        workflows=[{"workflowArn": workflow}],
    )["imageBuildVersionArn"]  # fmt: skip
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert "Step 'Breaks' (RunCommand) failed" in image["state"]["reason"]
    steps = _steps(ib, arn)["BUILD"]
    assert [(s["name"], s["status"], s.get("rollbackStatus")) for s in steps] == [
        ("LaunchFirst", "COMPLETED", "COMPLETED"),
        ("LaunchSecond", "COMPLETED", "COMPLETED"),
        ("Optional", "FAILED", None),
        ("Skipped", "SKIPPED", None),
        ("Breaks", "FAILED", None),
    ]
    first, second = host.instances.values()
    assert host.terminations[:2] == [second.id, first.id]  # reverse order
    execution = ib.list_workflow_executions(imageBuildVersionArn=arn)["workflowExecutions"][0]
    assert execution["status"] == "FAILED"
    assert (execution["totalStepsFailed"], execution["totalStepsSkipped"]) == (2, 1)
