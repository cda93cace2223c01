"""`kiln toe validate` over the corpus, and `kiln toe run` with --config and several documents."""

from __future__ import annotations

import json

from tests.toe.conftest import CORPUS, Toe


def test_every_corpus_document_validates(toe: Toe):
    names = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.yaml"))
    assert len(names) >= 20
    done = toe.command("validate", "--documents", ",".join(f"docs/{n}" for n in names))
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["validationStatus"] == "success"
    assert len(report["documents"]) == len(names)


def test_config_runs_documents_in_turn_with_their_parameters(toe: Toe):
    config = {
        "documents": [
            {"path": "docs/multi-one.yaml", "parameters": [{"name": "Who", "value": "first"}]},
            {"path": "docs/multi-two.yaml"},
        ],
        "phases": "test,build",
        "executionId": "from-config",
        "logDirectory": "config-logs",
    }
    (toe.tmp / "run.json").write_text(json.dumps(config))
    run = toe.outcome(toe.command("run", "--config", "run.json"))
    assert run.exit_code == 0, run.stderr
    assert run.summary["executionId"] == "from-config"
    assert run.summary["logUrl"].startswith("config-logs/TOE_")
    assert run.summary["executedStepCount"] == 4
    assert run.console.splitlines() == [
        "one build first", "one test first", "two test nobody", "two build nobody",
    ]  # fmt: skip
    assert [d["name"] for d in run.detailed["documents"]] == ["MultiOne", "MultiTwo"]
    assert list(run.statuses(1)) == ["test.Say", "build.Say"]
    assert (run.folder / "document-1.yaml").read_text() == (toe.docs / "multi-two.yaml").read_text()


def test_global_parameters_reach_every_document(toe: Toe):
    run = toe.run("multi-one.yaml", "multi-two.yaml", parameters={"Who": "all"})
    assert run.exit_code == 0, run.stderr
    assert run.console.split("\n")[:4] == [
        "one build all", "one test all", "two test all", "two build all",
    ]  # fmt: skip


def test_an_aborted_document_stops_the_documents_after_it(toe: Toe):
    run = toe.run("onfailure-abort.yaml", "spec-hello-world.yaml")
    assert run.exit_code == 1
    assert len(run.detailed["documents"]) == 1
    assert "Hello World!" not in run.console


def test_trace_echoes_the_application_log(toe: Toe):
    run = toe.run("spec-hello-world.yaml", extra=("--trace",))
    assert run.exit_code == 0
    assert "step build/ExecuteBashStep (ExecuteBash) started" in run.stderr


def test_a_finished_execution_in_the_state_directory_runs_afresh(toe: Toe):
    first = toe.run("retries.yaml", extra=("-i", "again", "--state-directory", "state"))
    state = json.loads((toe.tmp / "state" / "again.state.json").read_text())
    assert state["finished"] is True
    again = toe.run("retries.yaml", extra=("-i", "again", "--state-directory", "state"))
    assert first.exit_code == again.exit_code == 1
    # 3 attempts the first time; the second run's first attempt already sees 3 lines
    assert (toe.root / "attempts").read_text().split() == ["attempt"] * 4
