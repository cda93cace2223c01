"""The runner on the local host: statuses, retries, timeouts, loops, chaining, logs, reboots."""

from __future__ import annotations

import json
import os
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from kiln.toe import FakeCommunicator, LocalCommunicator, ToeRunError
from kiln.toe.actions.context import OUTPUT_TAIL_BYTES
from tests.unit.toe.helpers import bash, detailed, document, outputs, steps


def test_success_writes_awstoe_log_folder(run):
    result = run(document(bash("Hello", "echo Hello World!")))
    assert result.status == "success"
    assert re.fullmatch(
        r"TOE_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_UTC-0_" + result.execution_id, result.log_url.name
    )
    files = {p.name for p in result.log_url.iterdir()}
    assert {
        "document.yaml",
        "console.log",
        "application.log",
        "detailedoutput.json",
        "chaining.json",
    } <= files
    assert b"Hello World!" in (result.log_url / "console.log").read_bytes()
    step = steps(result)["Hello"]
    assert step["status"] == "success"
    assert json.loads(step["inputs"]) == [{"commands": ["echo Hello World!"]}]
    assert json.loads(step["outputs"]) == [{"stdout": "Hello World!"}]
    assert (step["timeoutSeconds"], step["onFailure"], step["maxAttempts"]) == (7200, "Abort", 1)
    assert result.summary()["executedStepCount"] == 1


def test_abort_stops_the_run(run, tmp_path):
    marker = tmp_path / "after"
    result = run(document(bash("Fail", "exit 3"), bash("After", f"touch {marker}")))
    assert result.status == "failed"
    assert not marker.exists()
    assert "exited with code 3" in steps(result)["Fail"]["failureMessage"]
    assert "After" not in steps(result)
    assert result.failed_step_count == 1


def test_continue_runs_next_steps_but_fails_the_document(run, tmp_path):
    marker = tmp_path / "after"
    result = run(
        document(bash("Fail", "exit 3", onFailure="Continue"), bash("After", f"touch {marker}"))
    )
    assert marker.exists()
    assert result.status == "failed"
    assert detailed(result)["documents"][0]["phases"][0]["status"] == "failed"


def test_ignore_counts_as_success(run):
    result = run(document(bash("Fail", "exit 3", onFailure="Ignore"), bash("After", "true")))
    phase = detailed(result)["documents"][0]["phases"][0]
    assert steps(result)["Fail"]["status"] == "IgnoredFailure"
    assert phase["status"] == "SuccessWithIgnoredFailure"
    assert result.status == "SuccessWithIgnoredFailure"
    assert result.succeeded and result.ignored_failed_step_count == 1


def test_max_attempts_retries_until_success(run, tmp_path):
    counter = tmp_path / "count"
    script = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]"
    )
    result = run(document(bash("Flaky", script, maxAttempts=3)))
    assert result.status == "success"
    assert steps(result)["Flaky"]["attempts"] == 3
    assert counter.read_text().strip() == "3"


def test_max_attempts_exhausted_fails(run, tmp_path):
    result = run(document(bash("Never", "false", maxAttempts=2)))
    assert steps(result)["Never"]["status"] == "failed"
    assert steps(result)["Never"]["attempts"] == 2


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" in status.read_text()


def test_timeout_kills_the_whole_process_tree(run, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    result = run(document(bash("Slow", f"sleep 300 & echo $! > {pidfile}; wait", timeoutSeconds=1)))
    assert time.monotonic() - started < 20
    assert steps(result)["Slow"]["status"] == "failed"
    assert "timed out after 1 seconds" in steps(result)["Slow"]["failureMessage"]
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not _dead(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dead(pid)


def test_timeout_covers_all_loop_iterations(run):
    step = bash("Loop", "sleep 0.7", timeoutSeconds=1, loop={"forEach": ["a", "b", "c"]})
    result = run(document(step))
    assert "timed out" in steps(result)["Loop"]["failureMessage"]


def test_large_output_is_streamed_not_kept(run):
    tracemalloc.start()
    try:
        result = run(document(bash("Big", "yes | head -c 200000000")))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "success"
    assert (result.log_url / "console.log").stat().st_size == 200_000_000
    assert len(outputs(result, "Big")["stdout"]) <= OUTPUT_TAIL_BYTES
    assert peak < 40 * OUTPUT_TAIL_BYTES


def test_loops_and_output_consolidation(run):
    result = run(
        document(
            bash(
                "For",
                "echo {{ counter.index }}:{{ counter.value }}",
                loop={"name": "counter", "for": {"start": 10, "end": 4, "updateBy": -3}},
            ),
            bash("Each", "echo {{ loop.value }}", loop={"forEach": ["Hello", "World"]}),
            bash(
                "Split",
                "echo {{ loop.index }}-{{ loop.value }}",
                loop={"forEach": {"list": "x;y", "delimiter": ";"}},
            ),
            bash("Outside", "echo '{{ loop.value }}'"),
        )
    )
    assert outputs(result, "For") == {"stdout": "0:10\n1:7\n2:4"}
    assert outputs(result, "Each") == {"stdout": "Hello\nWorld"}
    assert outputs(result, "Split") == {"stdout": "0-x\n1-y"}
    assert outputs(result, "Outside") == {"stdout": "{{ loop.value }}"}
    assert steps(result)["For"]["loop"]["iterationCount"] == 3


def test_loop_failure_lists_failed_iterations(run):
    result = run(
        document(
            bash(
                "L",
                "[ {{ loop.value }} != b ] && [ {{ loop.value }} != d ]",
                loop={"forEach": ["a", "b", "c", "d"]},
            )
        )
    )
    message = steps(result)["L"]["failureMessage"]
    assert message.startswith("loop iterations 1, 3 failed")


def test_chaining_across_steps_and_phases(run, tmp_path):
    target = tmp_path / "made.txt"
    text = document(
        phases=[
            {
                "name": "build",
                "steps": [
                    bash("Version", "echo 2.1.1"),
                    {
                        "name": "Make",
                        "action": "CreateFile",
                        "inputs": [
                            {"path": str(target), "content": "v={{ build.Version.outputs.stdout }}"}
                        ],
                    },
                ],
            },
            {
                "name": "validate",
                "steps": [
                    {
                        "name": "Check",
                        "action": "Assert",
                        "inputs": {
                            "stringEquals": "2.1.1",
                            "value": "{{ build.Version.outputs.stdout }}",
                        },
                    },
                    {
                        "name": "Read",
                        "action": "ReadFile",
                        "inputs": [{"path": "{{ build.Make.inputs[0].path }}"}],
                    },
                ],
            },
        ]
    )
    result = run(text)
    assert result.status == "success", result.failure_message
    assert target.read_text() == "v=2.1.1"
    assert outputs(result, "Read") == {"content": "v=2.1.1"}
    chaining = json.loads((result.log_url / "chaining.json").read_text())
    assert {
        "step": "Check",
        "expression": "{{ build.Version.outputs.stdout }}",
        "value": "2.1.1",
    } in chaining


def test_chaining_to_a_failed_step_fails_the_reader(run):
    result = run(
        document(
            bash("Bad", "exit 1", onFailure="Continue"),
            bash("Reader", "echo '{{ build.Bad.outputs.stdout }}'"),
        )
    )
    assert "Bad is failed" in steps(result)["Reader"]["failureMessage"]


def test_conditionals(run, tmp_path):
    existing = tmp_path / "exists"
    existing.write_text("x")
    result = run(
        document(
            bash("Runs", "echo ran", **{"if": {"fileExists": str(existing)}}),
            bash("Skipped", "echo no", **{"if": {"folderExists": str(existing)}}),
            bash(
                "Else",
                "echo else",
                **{"if": {"binaryExists": "no-such-binary-xyz", "then": "Skip", "else": "Execute"}},
            ),
            bash(
                "Logic",
                "echo logic",
                **{"if": {"and": [{"binaryExists": "bash"}, {"not": {"fileExists": "/nope"}}]}},
            ),
        )
    )
    found = steps(result)
    assert [found[n]["status"] for n in ("Runs", "Skipped", "Else", "Logic")] == [
        "success",
        "skipped",
        "success",
        "success",
    ]
    assert result.executed_step_count == 3


def test_if_abort_fails_the_run(run):
    result = run(
        document(
            bash("Stop", "true", **{"if": {"stringEquals": "a", "value": "a", "then": "Abort"}}),
            bash("Never", "true"),
        )
    )
    assert result.status == "failed" and "Never" not in steps(result)


def test_assert_false_fails_step(run):
    result = run(
        document({"name": "A", "action": "Assert", "inputs": {"numberLessThan": 2, "value": 3}})
    )
    assert "assertion is false" in steps(result)["A"]["failureMessage"]


HOSTILE = [
    "$(touch {canary})",
    '"; touch {canary}; "',
    "`touch {canary}`",
    "{{ Other }}",
    "x" * 100_000,
    "bad\udcff\udcfebytes",
    "a\nb; touch {canary}",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_parameter_values_are_data(run, tmp_path, template):
    canary = tmp_path / "canary"
    value = template.format(canary=canary)
    target = tmp_path / "out.txt"
    text = document(
        {
            "name": "Binary",
            "action": "ExecuteBinary",
            "inputs": {"path": "/usr/bin/printf", "arguments": ["%s", "{{ Hostile }}"]},
        },
        {
            "name": "File",
            "action": "CreateFile",
            "inputs": [{"path": str(target), "content": "{{ Hostile }}"}],
        },
        {
            "name": "Same",
            "action": "Assert",
            "inputs": {
                "stringEquals": "{{ Hostile }}",
                "value": "{{ build.Binary.outputs.stdout }}",
            },
        },
        bash("Quoted", "printf '%s' '{{ Hostile }}' > /dev/null"),
        parameters=[
            {"Hostile": {"type": "string"}},
            {"Other": {"type": "string", "default": "EXPANDED"}},
        ],
    )
    result = run(text, parameters={"Hostile": value})
    assert not canary.exists()
    assert target.read_bytes() == value.encode("utf-8", "surrogateescape")
    if "\udcff" not in value:
        assert result.status == "success", result.failure_message
        assert outputs(result, "Binary")["stdout"] == value.rstrip("\n")
    assert "EXPANDED" not in (result.log_url / "console.log").read_text(errors="replace")


def test_missing_parameter_is_refused_before_running(run, tmp_path):
    text = document(bash("S", "echo {{ Needed }}"), parameters=[{"Needed": {"type": "string"}}])
    with pytest.raises(ToeRunError, match="Needed"):
        run(text)


def test_phase_selection_keeps_document_order(run, tmp_path):
    order = tmp_path / "order"
    text = document(
        phases=[
            {"name": name, "steps": [bash(f"S{name}", f"echo {name} >> {order}")]}
            for name in ("build", "validate", "test")
        ]
    )
    run(text, phases=["test", "build"])
    assert order.read_text().split() == ["build", "test"]


def test_documents_run_in_turn(run, tmp_path):
    order = tmp_path / "order"
    first = document(
        phases=[
            {"name": p, "steps": [bash(f"A{p}", f"echo A{p} >> {order}")]}
            for p in ("build", "test")
        ]
    )
    second = document(
        phases=[
            {"name": p, "steps": [bash(f"B{p}", f"echo B{p} >> {order}")]}
            for p in ("build", "test")
        ]
    )
    result = run(first, second, phases=["build", "test"])
    assert order.read_text().split() == ["Abuild", "Atest", "Bbuild", "Btest"]
    assert (result.log_url / "document-1.yaml").exists()


def test_exit_194_reboots_and_reruns_the_step(run, tmp_path):
    marker = tmp_path / "rebooted"
    fake = FakeCommunicator(delegate=LocalCommunicator())
    fake.on_reboot = lambda: marker.write_text("yes")
    result = run(
        document(
            bash("NeedsReboot", f"[ -f {marker} ] && echo after || exit 194"),
            bash("Next", "echo next"),
        ),
        communicator=fake,
    )
    assert fake.reboots == 1
    assert result.status == "success"
    assert outputs(result, "NeedsReboot") == {"stdout": "after"}


def test_reboot_action_reboots_then_continues(run):
    fake = FakeCommunicator()
    result = run(
        document({"name": "Reboot", "action": "Reboot"}, bash("After", "echo x")), communicator=fake
    )
    assert fake.reboots == 1
    assert [s["status"] for s in steps(result).values()] == ["success", "success"]
    bash_calls = [c for c in fake.argvs() if c[0] == "bash"]
    assert len(bash_calls) == 1  # the step after the reboot ran once


def test_reboot_on_the_local_host_fails_clearly(run):
    result = run(document({"name": "Reboot", "action": "Reboot"}))
    assert (
        "not supported when running on the local host" in steps(result)["Reboot"]["failureMessage"]
    )


class _Crash(BaseException):
    """Simulates the runner process dying during a reboot."""


def test_state_directory_resumes_an_interrupted_run(run, tmp_path):
    counter = tmp_path / "first-step-runs"
    marker = tmp_path / "rebooted"
    state = tmp_path / "state"
    text = document(
        bash("First", f"echo run >> {counter}"),
        bash("Second", f"[ -f {marker} ] && echo resumed || exit 194"),
    )
    crashing = FakeCommunicator(delegate=LocalCommunicator())

    def crash() -> None:
        marker.write_text("x")
        raise _Crash()

    crashing.on_reboot = crash
    with pytest.raises(_Crash):
        run(text, communicator=crashing, state_dir=state, execution_id="exec-1")
    result = run(text, state_dir=state, execution_id="exec-1")
    assert result.status == "success"
    assert counter.read_text().split() == ["run"]  # the completed step did not run again
    assert outputs(result, "Second") == {"stdout": "resumed"}
    assert len(list((tmp_path / "logs").iterdir())) == 1  # same log folder


def test_execute_document_nested_with_parameters(run, tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(
        document(bash("Greet", "echo hi {{ Who }}"), parameters=[{"Who": {"type": "string"}}])
    )
    result = run(
        document(
            {
                "name": "Nested",
                "action": "ExecuteDocument",
                "inputs": {
                    "document": "child.yaml",
                    "phases": "build",
                    "parameters": [{"name": "Who", "value": "there"}],
                },
            }
        )
    )
    assert result.status == "success", result.failure_message
    nested = outputs(result, "Nested")["outputs"][0]
    assert (nested["status"], nested["executedStepCount"]) == ("success", 1)
    detail = steps(result)["Nested"]["detailedOutput"][0]
    step = detail["documents"][0]["phases"][0]["steps"][0]
    assert json.loads(step["outputs"]) == [{"stdout": "hi there"}]
    assert Path(nested["logUrl"]).is_dir()


def test_execute_document_cycle_fails(run, tmp_path):
    (tmp_path / "a.yaml").write_text(
        document({"name": "ToB", "action": "ExecuteDocument", "inputs": {"document": "b.yaml"}})
    )
    (tmp_path / "b.yaml").write_text(
        document({"name": "ToA", "action": "ExecuteDocument", "inputs": {"document": "a.yaml"}})
    )
    result = run(
        document({"name": "Start", "action": "ExecuteDocument", "inputs": {"document": "a.yaml"}})
    )
    assert result.status == "failed"
    assert "cycle" in result.failure_message


def test_execute_document_depth_limit(run, tmp_path):
    for level in range(1, 6):
        (tmp_path / f"l{level}.yaml").write_text(
            document(
                {
                    "name": "Down",
                    "action": "ExecuteDocument",
                    "inputs": {"document": f"l{level + 1}.yaml"},
                }
            )
        )
    (tmp_path / "l6.yaml").write_text(document(bash("Leaf", "echo leaf")))
    result = run(
        document({"name": "Top", "action": "ExecuteDocument", "inputs": {"document": "l1.yaml"}})
    )
    assert "at most 3 levels" in result.failure_message
