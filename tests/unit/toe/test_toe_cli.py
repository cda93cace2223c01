"""`kiln toe validate|run` through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kiln.cli.toe import toe
from tests.unit.toe.helpers import bash, document


def test_validate_reports_each_document(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(document(bash("S", "echo hi")))
    bad = tmp_path / "bad.yaml"
    bad.write_text(document(bash("S", "echo {{ Missing }}")))
    ok = CliRunner().invoke(toe, ["validate", "--documents", str(good)])
    assert ok.exit_code == 0 and json.loads(ok.output)["validationStatus"] == "success"
    failed = CliRunner().invoke(toe, ["validate", "--documents", f"{good},{bad}"])
    assert failed.exit_code == 1
    report = json.loads(failed.output)
    assert report["documents"][1]["problems"] == [
        "phases[0] 'build' .steps[0] 'S' .inputs.commands[0] (line 10): "
        "'{{ Missing }}' names no parameter or constant of this document"
    ]


def test_run_prints_summary_and_exit_code(tmp_path):
    canary = tmp_path / "canary"
    doc = tmp_path / "doc.yaml"
    doc.write_text(
        document(
            {
                "name": "Echo",
                "action": "ExecuteBinary",
                "inputs": {"path": "/usr/bin/printf", "arguments": ["%s", "{{ Value }}"]},
            },
            phases=None,
            parameters=[{"Value": {"type": "string", "default": "d"}}],
        )
    )
    logs = tmp_path / "logs"
    result = CliRunner().invoke(
        toe,
        [
            "run",
            "--documents",
            str(doc),
            "--log-directory",
            str(logs),
            "--parameters",
            f"Value=$(touch {canary})",
            "--execution-id",
            "cli-1",
            "--phases",
            "build",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["status"], summary["executionId"], summary["executedStepCount"]) == (
        "success",
        "cli-1",
        1,
    )
    assert not canary.exists()
    detailed = json.loads(
        (logs / summary["logUrl"].split("/")[-1] / "detailedoutput.json").read_text()
    )
    step = detailed["documents"][0]["phases"][0]["steps"][0]
    assert json.loads(step["outputs"]) == [{"stdout": f"$(touch {canary})"}]


def test_run_failure_exits_non_zero(tmp_path):
    doc = tmp_path / "doc.yaml"
    doc.write_text(document(bash("Fail", "exit 7")))
    result = CliRunner().invoke(toe, ["run", "-d", str(doc), "-l", str(tmp_path)])
    assert result.exit_code == 1
    assert json.loads(result.output)["failedStepCount"] == 1


def test_run_with_config_file(tmp_path):
    doc = tmp_path / "doc.yaml"
    doc.write_text(
        document(bash("Echo", "echo {{ Name }}"), parameters=[{"Name": {"type": "string"}}])
    )
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "documents": [{"path": str(doc), "parameters": [{"name": "Name", "value": "cfg"}]}],
                "logDirectory": str(tmp_path / "logs"),
                "executionId": "from-config",
            }
        )
    )
    result = CliRunner().invoke(toe, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["executionId"] == "from-config"


def test_run_usage_errors(tmp_path):
    doc = tmp_path / "doc.yaml"
    doc.write_text(document(bash("S", "true")))
    neither = CliRunner().invoke(toe, ["run"])
    assert neither.exit_code == 2 and "exactly one of" in neither.output
    bad = CliRunner().invoke(toe, ["run", "-d", str(doc), "--parameters", "ntp-server="])
    assert bad.exit_code == 2 and "not name=value" in bad.output
    missing = CliRunner().invoke(toe, ["run", "-d", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "cannot read" in missing.output
