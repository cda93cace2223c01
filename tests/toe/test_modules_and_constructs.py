"""Our own corpus under the real `kiln toe run`: every Linux module that is safe on the host,
onFailure, retries, timeouts and ExecuteDocument nesting."""

from __future__ import annotations

import json
import stat

from tests.toe.conftest import Toe


def test_file_modules(toe: Toe):
    run = toe.run("modules-files.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    assert set(run.statuses().values()) == {"success"}
    assert run.summary["executedStepCount"] == 18
    root = toe.root
    assert (root / "notes.txt").read_text() == "first\nsecond"
    assert stat.S_IMODE((root / "notes.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "dst").stat().st_mode) == 0o750
    assert (root / "utf16.txt").read_bytes() == "wide".encode("utf-16-le")
    assert (root / "src" / "b.txt").read_bytes() == "beta".encode("utf-16-le")
    assert (root / "dst" / "b.txt").read_text() == "beta"  # copied before re-encoding
    assert (root / "moved" / "renamed.txt").read_text() == "alpha"
    assert (root / "link.txt").is_symlink()
    assert sorted(p.name for p in (root / "moved-tree").iterdir()) == ["a.txt", "b.txt"]
    assert run.outputs("validate.ListTexts") == {"files": f"{root}/dst/a.txt,{root}/dst/b.txt"}
    assert run.outputs("validate.ListRecursive") == {"files": f"{root}/src/sub/c.log"}
    assert run.outputs("build.ReadThroughLink") == {"content": "first\nsecond"}
    assert [c["step"] for c in run.chaining] == [
        "NotesAreAppended", "LinkReadsTarget", "LinkReadsTarget",
    ]  # fmt: skip


def test_ownership_and_permission_modules(toe: Toe):
    run = toe.run("modules-ownership.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    user = toe.parameters["User"]
    assert run.outputs("validate.Modes") == {"stdout": f"700 {user}\n750 {user}"}
    assert run.outputs("validate.RunsNow") == {"stdout": "owned"}
    assert run.console == f"700 {user}\n750 {user}\nowned\n"


def test_execute_modules(toe: Toe):
    run = toe.run("modules-execute.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    assert run.outputs("build.Script") == {"stdout": "6"}
    assert run.outputs("build.Binary") == {"stdout": "$(not expanded)|6"}
    assert run.inputs("build.Binary") == [
        {"path": "/usr/bin/printf", "arguments": ["%s|%s", "$(not expanded)", "6"]}
    ]
    assert run.console == "6\nstderr line\n$(not expanded)|6"


def test_on_failure_abort_stops_everything(toe: Toe):
    run = toe.run("onfailure-abort.yaml")
    assert run.exit_code == 1
    assert run.statuses() == {"build.Before": "success", "build.Fails": "failed"}
    assert [p["name"] for p in run.detailed["documents"][0]["phases"]] == ["build"]
    assert (run.summary["status"], run.summary["failedStepCount"]) == ("failed", 1)
    assert run.summary["failureMessage"] == (
        "build: Fails: ExecuteBash: exited with code 3: about to fail"
    )
    assert run.console == "before\nabout to fail\n"
    assert not (toe.root / "never").exists() and not (toe.root / "never-either").exists()


def test_on_failure_continue_runs_on_and_fails(toe: Toe):
    run = toe.run("onfailure-continue.yaml")
    assert run.exit_code == 1
    assert run.statuses() == {
        "build.Fails": "failed",
        "build.LoopFails": "failed",
        "build.StillRuns": "success",
        "validate.AlsoRuns": "success",
    }
    phases = {p["name"]: p["status"] for p in run.detailed["documents"][0]["phases"]}
    assert phases == {"build": "failed", "validate": "success"}
    assert run.detailed["status"] == "failed"
    loop = run.steps()["build.LoopFails"]
    assert loop["loop"] == {"name": None, "iterationCount": 3, "failedIterations": [1]}
    assert loop["failureMessage"].startswith("loop iterations 1 failed")
    assert (toe.root / "still-runs").exists()
    assert run.summary["failedStepCount"] == 2


def test_on_failure_ignore_succeeds_with_ignored_failures(toe: Toe):
    run = toe.run("onfailure-ignore.yaml")
    assert run.exit_code == 0
    assert run.statuses() == {
        "build.Ignored": "IgnoredFailure",
        "build.FalseAssert": "IgnoredFailure",
        "build.After": "success",
    }
    assert (run.summary["status"], run.summary["ignoredFailedStepCount"]) == (
        "SuccessWithIgnoredFailure", 2
    )  # fmt: skip
    assert run.detailed["documents"][0]["phases"][0]["status"] == "SuccessWithIgnoredFailure"
    assert "assertion is false" in run.steps()["build.FalseAssert"]["failureMessage"]
    assert run.console == "after-ignored\n"


def test_if_then_abort(toe: Toe):
    run = toe.run("if-abort.yaml")
    assert run.exit_code == 1
    assert run.statuses() == {"build.Guard": "failed"}
    assert run.summary["failureMessage"] == "build: Guard: if: condition chose Abort"
    assert run.console == ""


def test_max_attempts(toe: Toe):
    run = toe.run("retries.yaml")
    assert run.exit_code == 1
    steps = run.steps()
    assert (steps["build.Flaky"]["status"], steps["build.Flaky"]["attempts"]) == ("success", 3)
    assert run.outputs("build.Flaky") == {"stdout": "flaky-succeeded"}
    assert (toe.root / "attempts").read_text().count("attempt") == 3
    assert (steps["build.FlakyLoop"]["status"], steps["build.FlakyLoop"]["attempts"]) == (
        "success", 2
    )  # fmt: skip
    assert (toe.root / "loop-runs").read_text().split() == ["a", "b", "a", "b"]  # whole loop reran
    assert (steps["build.NeverSucceeds"]["status"], steps["build.NeverSucceeds"]["attempts"]) == (
        "failed", 2
    )  # fmt: skip
    assert (toe.root / "never").read_text().split() == ["try", "try"]
    log = (run.folder / "application.log").read_text()
    assert "step build/Flaky attempt 2 failed" in log


def test_timeouts(toe: Toe):
    run = toe.run("timeouts.yaml")
    assert run.exit_code == 1
    assert run.statuses() == {
        "build.TooSlow": "failed",
        "build.SlowLoop": "failed",
        "build.NoTimeout": "success",
    }
    steps = run.steps()
    assert steps["build.TooSlow"]["failureMessage"] == "timed out after 1 seconds"
    assert steps["build.SlowLoop"]["failureMessage"] == "timed out after 2 seconds"
    assert steps["build.NoTimeout"]["timeoutSeconds"] == -1
    assert not (toe.root / "slow-finished").exists()
    iterations = (toe.root / "loop-iterations").read_text().split()
    assert 1 <= len(iterations) < 4  # the timeout covers the whole loop, not each iteration


def test_execute_document_three_levels(toe: Toe):
    run = toe.run("nest-top.yaml")
    assert run.exit_code == 0, run.detailed["failureMessage"]
    root = toe.root
    assert (root / "level1-one").exists() and (root / "level1-test").exists()
    assert not (root / "level1-validate").exists()  # phases: build,test
    assert (root / "leaf").read_text() == "leaf\n"
    level1 = run.outputs("build.Level1")["outputs"][0]
    assert (level1["status"], level1["executedStepCount"]) == ("success", 3)
    detail = run.steps()["build.Level1"]["detailedOutput"][0]["documents"][0]
    assert [p["name"] for p in detail["phases"]] == ["build", "test"]
    level2 = detail["phases"][0]["steps"][1]["detailedOutput"][0]["documents"][0]
    level3 = level2["phases"][0]["steps"][0]["detailedOutput"][0]["documents"][0]
    leaf = level3["phases"][0]["steps"][0]
    assert (level3["name"], leaf["name"], json.loads(leaf["outputs"])) == (
        "Level3", "Leaf", [{"stdout": "leaf-ran"}]
    )  # fmt: skip
    consoles = sorted(run.folder.rglob("console.log"), key=lambda p: len(p.parts))
    assert len(consoles) == 4  # one log folder per document, nested in its parent's
    assert consoles[-1].read_text() == "leaf-ran\n"


def test_execute_document_depth_limit(toe: Toe):
    run = toe.run("nest-too-deep.yaml")
    assert run.exit_code == 1
    assert run.summary["failureMessage"].endswith("documents may nest at most 3 levels deep")
    assert not (toe.root / "leaf").exists()


def test_execute_document_cycle(toe: Toe):
    run = toe.run("nest-cycle.yaml")
    assert run.exit_code == 1
    docs = toe.docs
    assert run.summary["failureMessage"].endswith(
        f"cycle: {docs}/nest-cycle.yaml -> {docs}/nested/cycle-partner.yaml"
        f" -> {docs}/nest-cycle.yaml"
    )
