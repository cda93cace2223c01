"""The spec's example documents (tests/data/toe/spec-*.yaml) under the real `kiln toe run`."""

from __future__ import annotations

import json
import re

from tests.toe.conftest import Toe

STEP_FIELDS = {
    "name", "status", "failureMessage", "timeoutSeconds", "onFailure", "maxAttempts", "attempts",
    "action", "startTime", "endTime", "inputs", "outputs", "loop", "detailedOutput",
}  # fmt: skip


def test_hello_world_matches_the_spec_detailed_output(toe: Toe):
    run = toe.run("spec-hello-world.yaml", extra=("--execution-id", "hello-1"))
    assert run.exit_code == 0, run.stderr
    assert run.summary == {
        "executedStepCount": 1,
        "executionId": "hello-1",
        "failedStepCount": 0,
        "failureMessage": "",
        "ignoredFailedStepCount": 0,
        "logUrl": run.summary["logUrl"],
        "status": "success",
    }
    folder = r"logs/TOE_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_UTC-0_hello-1"
    assert re.fullmatch(folder, run.summary["logUrl"])
    assert {p.name for p in run.folder.iterdir()} >= {
        "document.yaml", "application.log", "detailedoutput.json", "console.log", "chaining.json",
    }  # fmt: skip
    copied = (run.folder / "document.yaml").read_text()
    assert copied == (toe.docs / "spec-hello-world.yaml").read_text()
    detailed = run.detailed
    assert (detailed["executionId"], detailed["status"], detailed["failureMessage"]) == (
        "hello-1", "success", ""
    )  # fmt: skip
    document = detailed["documents"][0]
    assert (document["name"], document["status"]) == ("HelloWorld", "success")
    assert document["filePath"].endswith("docs/spec-hello-world.yaml")
    step = run.steps()["build.ExecuteBashStep"]
    assert set(step) == STEP_FIELDS
    assert step["inputs"] == json.dumps([{"commands": ['echo "Hello World!"']}])
    assert step["outputs"] == json.dumps([{"stdout": "Hello World!"}])
    assert (step["status"], step["timeoutSeconds"], step["onFailure"], step["maxAttempts"]) == (
        "success", 7200, "Abort", 1
    )  # fmt: skip
    assert (step["loop"], step["detailedOutput"]) == (None, None)
    assert run.console == "Hello World!\n"
    assert run.chaining == []
    assert "execution hello-1 finished: success" in (run.folder / "application.log").read_text()


def test_document_structure_parameters_constants_and_phase_order(toe: Toe):
    run = toe.run(
        "spec-document-structure.yaml",
        parameters={"Required": "given"},
        extra=("--phases", "test,build"),
    )
    assert run.exit_code == 0, run.stderr
    assert list(run.statuses()) == ["build.Show", "test.Show"]  # document order, not --phases
    assert run.outputs("build.Show") == {"stdout": "build param=x const=y required=given"}
    assert run.console == "build param=x const=y required=given\ntest\n"
    overridden = toe.run(
        "spec-document-structure.yaml", parameters={"Required": "r", "MyParam": "over"}
    )
    assert overridden.outputs("build.Show")["stdout"] == "build param=over const=y required=r"
    assert overridden.summary["executedStepCount"] == 3


def test_missing_parameter_is_refused_before_anything_runs(toe: Toe):
    done = toe.command(
        "run", "-d", "docs/spec-document-structure.yaml", "-l", "logs", "--parameters", "X=1"
    )
    assert done.returncode == 1
    assert "no value for parameter(s) Required" in done.stderr
    assert not (toe.tmp / "logs").exists()


def test_chaining_inputs_outputs_and_assert(toe: Toe):
    run = toe.run("spec-chaining.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    destination = f"{toe.root}/downloads/app-version.txt"
    assert (toe.root / "downloads" / "app-version.txt").read_text() == "2.1.1\n"
    assert set(run.statuses().values()) == {"success"}
    assert run.outputs("build.Download") == {"destination": destination}
    assert run.outputs("validate.ApplicationVersion") == {"stdout": "2.1.1"}
    assert (toe.root / "record.txt").read_text() == f"downloaded to {destination}"
    assert run.chaining == [
        {
            "step": "SampleBashStep",
            "expression": "{{ build.Download.inputs[0].destination }}",
            "value": destination,
        },
        {
            "step": "ApplicationVersion",
            "expression": "{{ build.Download.outputs.destination }}",
            "value": destination,
        },
        {
            "step": "CheckVersion",
            "expression": "{{ validate.ApplicationVersion.outputs.stdout }}",
            "value": "2.1.1",
        },
        {
            "step": "Record",
            "expression": "{{ build.SampleBashStep.outputs.stdout }}",
            "value": f"downloaded to {destination}",
        },
    ]
    assert run.console == f"downloaded to {destination}\n2.1.1\n"


def test_loops(toe: Toe):
    run = toe.run("spec-loops.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    assert run.outputs("build.ForLoop") == {"stdout": "for 0=1\nfor 1=3\nfor 2=5"}
    assert run.outputs("build.CountDown") == {"stdout": "0:3\n1:2\n2:1"}
    assert run.outputs("build.Greetings") == {"stdout": "Hello\nWorld"}
    assert run.outputs("build.ChainedList") == {"stdout": "plain\nchained"}
    assert run.outputs("build.DefaultDelimiter") == {"stdout": "0-one\n1-two"}
    steps = run.steps()
    assert steps["build.CountDown"]["loop"] == {
        "name": "countdown", "iterationCount": 3, "failedIterations": [],
    }  # fmt: skip
    assert steps["build.Folders"]["loop"]["iterationCount"] == 3
    assert run.inputs("build.Folders") == [{"path": f"{toe.root}/loop-{x}"} for x in "abc"]
    assert all((toe.root / f"loop-{x}").is_dir() for x in "abc")
    assert run.chaining == [
        {"step": "ChainedList", "expression": "{{ build.Word.outputs.stdout }}", "value": "chained"}
    ]
    assert run.console.splitlines()[:8] == [
        "for 0=1", "for 1=3", "for 2=5", "0:3", "1:2", "2:1", "Hello", "World",
    ]  # fmt: skip


def test_conditionals(toe: Toe):
    run = toe.run("spec-conditionals.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    assert run.statuses() == {
        "build.MakeConfig": "success",
        "build.Version": "success",
        "build.AndNot": "success",
        "build.SkipWhenConfigExists": "skipped",
        "build.ElseExecute": "success",
        "build.FalseSkipsByDefault": "skipped",
        "build.NumbersAndStrings": "success",
        "build.PatternOnChainedValue": "success",
        "build.Checksum": "success",
    }
    assert run.summary["executedStepCount"] == 7  # skipped steps count as success, not as run
    assert run.console.split() == [
        "2.1.1", "and-not-ran", "else-ran", "numbers-and-strings-ran", "pattern-ran",
        "checksum-ran",
    ]  # fmt: skip
    assert "must-not-run" not in run.console


def test_execute_document_returns_the_nested_summary_and_detail(toe: Toe):
    run = toe.run("spec-execute-document.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    step = run.steps()["build.RunMain"]
    assert (step["timeoutSeconds"], step["maxAttempts"]) == (-1, 1)
    nested = run.outputs("build.RunMain")["outputs"][0]
    assert set(nested) == {
        "executedStepCount", "executionId", "failedStepCount", "failureMessage",
        "ignoredFailedStepCount", "logUrl", "status",
    }  # fmt: skip
    assert (nested["status"], nested["executedStepCount"]) == ("success", 1)
    assert nested["executionId"].startswith(run.summary["executionId"] + ".")
    folder = toe.tmp / nested["logUrl"]
    assert folder.parent == run.folder
    assert (folder / "console.log").read_text() == "Hello World!\n"
    detail = step["detailedOutput"][0]["documents"][0]
    assert detail["name"] == "HelloWorld"
    leaf = detail["phases"][0]["steps"][0]
    assert (leaf["name"], leaf["outputs"]) == ("ExecuteBashStep", '[{"stdout": "Hello World!"}]')
