"""Execution state persisted to the state directory, so a run resumes after a reboot or a
crash: completed steps are not run again, the interrupted step resumes at its iteration."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.toe.errors import ToeRunError


class RunState:
    """Completed step records and pending (interrupted) step progress, keyed by step key."""

    def __init__(self, path: Path | None, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def open(cls, state_dir: Path | None, execution_id: str) -> RunState:
        """The unfinished state of `execution_id`, or a fresh one."""
        fresh: dict[str, Any] = {
            "executionId": execution_id,
            "finished": False,
            "steps": {},
            "pending": {},
        }
        if state_dir is None:
            return cls(None, fresh)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", execution_id)
        path = state_dir / f"{safe}.state.json"
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ToeRunError(f"cannot read execution state {path}: {exc}") from exc
            if not data.get("finished") and data.get("executionId") == execution_id:
                return cls(path, data)
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(path, fresh)

    @property
    def resumed(self) -> bool:
        return bool(self.data["steps"] or self.data["pending"])

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def completed(self, step_key: str) -> Mapping[str, Any] | None:
        found: Mapping[str, Any] | None = self.data["steps"].get(step_key)
        return found

    def complete(self, step_key: str, record: Mapping[str, Any]) -> None:
        self.data["steps"][step_key] = dict(record)
        self.data["pending"].pop(step_key, None)
        self.save()

    def pending(self, step_key: str) -> dict[str, Any]:
        found: dict[str, Any] = self.data["pending"].get(step_key, {})
        return found

    def set_pending(self, step_key: str, progress: Mapping[str, Any]) -> None:
        self.data["pending"][step_key] = dict(progress)
        self.save()

    def finish(self) -> None:
        self.data["finished"] = True
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data), encoding="utf-8")
        os.replace(temporary, self.path)
