"""Helpers for the toe tests: build documents from Python data, run them, read the logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from kiln.toe import Communicator, LocalCommunicator, RunResult, parse_document, run_documents


def document(
    *steps: dict[str, Any],
    phase: str = "build",
    parameters: Sequence[dict[str, Any]] = (),
    constants: Sequence[dict[str, Any]] = (),
    phases: Sequence[dict[str, Any]] | None = None,
) -> str:
    data: dict[str, Any] = {"name": "TestDoc", "schemaVersion": 1.0}
    if parameters:
        data["parameters"] = list(parameters)
    if constants:
        data["constants"] = list(constants)
    data["phases"] = list(phases) if phases is not None else [{"name": phase, "steps": list(steps)}]
    return yaml.safe_dump(data, sort_keys=False)


def bash(name: str, *commands: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "action": "ExecuteBash", "inputs": {"commands": list(commands)}, **fields}


class Runner:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.logs = tmp_path / "logs"
        self.count = 0

    def __call__(
        self, *texts: str, communicator: Communicator | None = None, **options: Any
    ) -> RunResult:
        documents = []
        for text in texts:
            self.count += 1
            path = self.tmp / f"doc{self.count}.yaml"
            path.write_text(text)
            documents.append(parse_document(text, path=str(path)))
        options.setdefault("work_dir", str(self.tmp / "work"))
        return run_documents(
            documents,
            communicator=communicator or LocalCommunicator(),
            log_dir=self.logs,
            **options,
        )


def detailed(result: RunResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((result.log_url / "detailedoutput.json").read_text())
    return data


def steps(result: RunResult) -> dict[str, dict[str, Any]]:
    """Every step record of the first document's detailedoutput.json, by name."""
    found = {}
    for phase in detailed(result)["documents"][0]["phases"]:
        for step in phase["steps"]:
            found[step["name"]] = step
    return found


def outputs(result: RunResult, name: str) -> dict[str, Any]:
    listed = json.loads(steps(result)[name]["outputs"])
    return listed[0] if listed else {}
