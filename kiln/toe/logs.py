"""The run folder, laid out as AWSTOE's: TOE_<YYYY-MM-DD_HH-MM-SS>_UTC-0_<executionId>/ with
document.yaml copies, console.log (step output, streamed), application.log, detailedoutput.json
and chaining.json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO


def folder_name(execution_id: str, when: datetime | None = None) -> str:
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%d_%H-%M-%S")
    return f"TOE_{stamp}_UTC-0_{execution_id}"


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(temporary, path)


class RunLog:
    """Owns the files of one run folder; close() when the run ends."""

    def __init__(self, folder: Path, *, echo: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._console: BinaryIO = (folder / "console.log").open("ab")
        self._application: TextIO = (folder / "application.log").open(
            "a", encoding="utf-8", errors="backslashreplace"
        )
        self._echo = echo
        self._chaining: list[dict[str, str]] = []
        chaining = folder / "chaining.json"
        if chaining.exists():
            self._chaining = json.loads(chaining.read_text(encoding="utf-8"))

    def console(self, chunk: bytes) -> None:
        """Step output, flushed as it comes so it can be followed while the step runs."""
        self._console.write(chunk)
        self._console.flush()

    def info(self, message: str) -> None:
        line = f"{datetime.now(UTC).isoformat(timespec='milliseconds')} INFO {message}"
        self._application.write(line + "\n")
        self._application.flush()
        if self._echo is not None:
            self._echo(line)

    def flush(self) -> None:
        self._console.flush()
        self._application.flush()

    def copy_document(self, index: int, text: str) -> None:
        name = "document.yaml" if index == 0 else f"document-{index}.yaml"
        (self.folder / name).write_text(text, encoding="utf-8", errors="surrogateescape")

    def chained(self, *, step: str, expression: str, value: str) -> None:
        self._chaining.append({"step": step, "expression": expression, "value": value})
        _write_json(self.folder / "chaining.json", self._chaining)

    def detailed(self, data: Mapping[str, Any]) -> None:
        _write_json(self.folder / "detailedoutput.json", data)

    def close(self) -> None:
        if not (self.folder / "chaining.json").exists():
            _write_json(self.folder / "chaining.json", self._chaining)
        self._console.close()
        self._application.close()
