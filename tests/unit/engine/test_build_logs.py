"""A build's logs through Kiln before the build ends: `kiln images logs` (and --follow) on a
build parked at WaitForAction with a FakeBuildHost, and the step executions pointing at them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kiln.app import Kiln
from kiln.cli.images import images, show_logs
from kiln.core.errors import ConfigurationError
from kiln.engine.logs import BuildLogs
from kiln.settings import Settings
from tests.unit.engine.conftest import WAITING_BUILD, container_recipe, wait_for, wait_until


def _parked_build(ib: Any) -> str:
    made = container_recipe(ib)
    workflow = ib.create_workflow(
        name="approve", semanticVersion="1.0.0", type="BUILD", data=WAITING_BUILD
    )["workflowBuildVersionArn"]
    return str(
        ib.create_image(
            containerRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"],
            workflows=[{"workflowArn": workflow}],
        )["imageBuildVersionArn"]
    )  # fmt: skip


def test_logs_of_a_running_build_are_printed_and_followed_to_its_end(
    ib: Any, make_executor: Any, kiln: Kiln
) -> None:
    arn = _parked_build(ib)
    with make_executor():
        wait_until(lambda: bool(ib.list_waiting_workflow_steps()["steps"]))
        (waiting,) = ib.list_waiting_workflow_steps()["steps"]
        assert ib.get_image(imageBuildVersionArn=arn)["image"]["state"]["status"] == "BUILDING"

        printed = CliRunner().invoke(images, ["logs", arn, "--data-dir", str(kiln.data_dir)])
        assert printed.exit_code == 0, printed.output
        assert "==> build-ApplyBuildComponents/TOE_" in printed.output
        assert "/application.log <==" in printed.output and "document " in printed.output
        assert "test-ApplyTestComponents" not in printed.output  # not run yet

        steps = ib.list_workflow_step_executions(
            workflowExecutionId=waiting["workflowExecutionId"]
        )["steps"]
        apply = next(s for s in steps if s["name"] == "ApplyBuildComponents")
        message = ib.get_workflow_step_execution(stepExecutionId=apply["stepExecutionId"])[
            "message"
        ]
        folder = Path(message.removeprefix("Logs: ").split(" ")[0])
        assert (
            folder
            == kiln.data_dir
            / "logs"
            / kiln.default_account
            / "us-east-1"
            / "app"
            / "1.0.0"
            / "1"
            / "build-ApplyBuildComponents"
        )
        assert f"kiln images logs {arn} --follow" in message
        launch = next(s for s in steps if s["name"] == "LaunchBuildInstance")
        assert "message" not in launch  # a step without logs points nowhere

        followed: list[str] = []
        settings = Settings.load(environ={}, data_dir=kiln.data_dir)
        follower = threading.Thread(
            target=show_logs,
            args=(settings, arn),
            kwargs={"follow": True, "write": followed.append, "interval": 0.05},
        )
        follower.start()
        wait_until(lambda: any("build-ApplyBuildComponents" in text for text in followed))
        ib.send_workflow_step_action(
            stepExecutionId=waiting["stepExecutionId"], imageBuildVersionArn=arn, action="RESUME"
        )
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
        follower.join(15)
    assert not follower.is_alive(), "--follow did not stop when the build ended"
    assert image["state"]["status"] == "AVAILABLE"
    text = "".join(followed)
    assert text.index("build-ApplyBuildComponents") < text.index("test-ApplyTestComponents")
    finished_before = [
        line for line in text.splitlines() if line.startswith("==> build-ApplyBuildComponents/")
    ]
    assert len(finished_before) == len(set(finished_before))  # their text came once, whole


def test_logs_of_an_unknown_image_or_a_wrong_arn_say_what_to_do(kiln: Kiln) -> None:
    settings = Settings.load(environ={}, data_dir=kiln.data_dir)
    unknown = f"arn:aws:imagebuilder:us-east-1:{kiln.default_account}:image/nope/1.0.0/1"
    with pytest.raises(ConfigurationError, match="no image") as raised:
        show_logs(settings, unknown, follow=False, write=print)
    assert "--data-dir" in raised.value.hint
    with pytest.raises(ConfigurationError, match="not an image build version ARN"):
        show_logs(settings, unknown.rsplit("/", 1)[0], follow=False, write=print)
    empty = Settings.load(environ={}, data_dir=kiln.data_dir / "elsewhere")
    with pytest.raises(ConfigurationError, match="holds no Kiln data"):
        show_logs(empty, unknown, follow=False, write=print)


def test_build_logs_hand_out_appended_text_once_and_whole_characters(tmp_path: Path) -> None:
    logs = BuildLogs(tmp_path)
    assert logs.poll() == []
    first = tmp_path / "build-A" / "console.log"
    first.parent.mkdir()
    first.write_bytes("caf\xc3".encode("latin-1"))  # "café" cut inside its last character
    assert [(c.path, c.text) for c in logs.poll()] == [(Path("build-A/console.log"), "caf")]
    with first.open("ab") as handle:
        handle.write(b"\xa9\n")
    (tmp_path / "build-A" / "notes.json").write_text("{}")  # not a log
    (tmp_path / "test-B.log").write_text("later\n")
    assert [(str(c.path), c.text) for c in logs.poll()] == [
        ("build-A/console.log", "é\n"),
        ("test-B.log", "later\n"),
    ]
    assert logs.poll() == []
