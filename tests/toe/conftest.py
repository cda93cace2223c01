"""Run corpus documents through the real `kiln toe run`, each in a throwaway directory."""

from __future__ import annotations

import functools
import grp
import http.server
import json
import os
import pwd
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).parents[1] / "data" / "toe"
KILN = [sys.executable, "-c", "from kiln.cli.main import main; main()"]
"""The `kiln` console script's entry point, run by this interpreter (so the venv's kiln)."""


@dataclass(frozen=True)
class Outcome:
    """What one `kiln toe run` printed and left in its log folder."""

    exit_code: int
    stdout: str
    stderr: str
    summary: dict[str, Any]
    folder: Path

    @property
    def detailed(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.folder / "detailedoutput.json").read_text())
        return data

    @property
    def console(self) -> str:
        return (self.folder / "console.log").read_text(errors="replace")

    @property
    def chaining(self) -> list[dict[str, str]]:
        data: list[dict[str, str]] = json.loads((self.folder / "chaining.json").read_text())
        return data

    def steps(self, document: int = 0) -> dict[str, dict[str, Any]]:
        """`phase.step` -> the step's record in detailedoutput.json."""
        return {
            f"{phase['name']}.{step['name']}": step
            for phase in self.detailed["documents"][document]["phases"]
            for step in phase["steps"]
        }

    def statuses(self, document: int = 0) -> dict[str, str]:
        return {name: step["status"] for name, step in self.steps(document).items()}

    def outputs(self, name: str, document: int = 0) -> dict[str, Any]:
        listed = json.loads(self.steps(document)[name]["outputs"])
        return listed[0] if listed else {}

    def inputs(self, name: str, document: int = 0) -> list[Any]:
        value: list[Any] = json.loads(self.steps(document)[name]["inputs"])
        return value


class Toe:
    """A throwaway directory: `docs/` (a copy of the corpus), `root/` (the documents' Root),
    `logs/`; run() calls `kiln toe run` there as a subprocess."""

    def __init__(self, tmp_path: Path, base_url: str) -> None:
        self.tmp = tmp_path
        self.docs = tmp_path / "docs"
        self.root = tmp_path / "root"
        self.logs = tmp_path / "logs"
        shutil.copytree(CORPUS, self.docs)
        self.root.mkdir()
        user = pwd.getpwuid(os.getuid())
        self.parameters = {
            "Root": str(self.root),
            "BaseUrl": base_url,
            "User": user.pw_name,
            "Group": grp.getgrgid(user.pw_gid).gr_name,
        }

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*KILN, "toe", *args], cwd=self.tmp, capture_output=True, text=True, timeout=300
        )

    def run(
        self,
        *documents: str,
        parameters: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> Outcome:
        values = {**self.parameters, **(parameters or {})}
        args = [
            "run",
            "--documents",
            ",".join(f"docs/{name}" for name in documents),
            "--log-directory",
            "logs",
            "--parameters",
            ",".join(f"{name}={value}" for name, value in values.items()),
            *extra,
        ]
        return self.outcome(self.command(*args))

    def outcome(self, done: subprocess.CompletedProcess[str]) -> Outcome:
        assert done.stdout.strip(), f"no summary printed; stderr: {done.stderr}"
        summary = json.loads(done.stdout)
        folder = self.tmp / summary["logUrl"]
        return Outcome(done.returncode, done.stdout, done.stderr, summary, folder)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback HTTP server standing in for S3 and the internet in the spec's examples."""
    served = tmp_path_factory.mktemp("web")
    (served / "app-version.txt").write_text("2.1.1\n")
    handler = functools.partial(_Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def toe(tmp_path: Path, web: str) -> Toe:
    return Toe(tmp_path, web)
