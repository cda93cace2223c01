"""Step loops at run time: the iterations a loop makes, the summary recorded for it, and how the
iterations' outputs are consolidated into the step's outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kiln.toe.document import Step
from kiln.toe.expressions import LoopFrame, Scope, expand_text
from kiln.toe.results import as_text


def frames(step: Step, scope: Scope) -> list[LoopFrame | None]:
    """One frame per iteration ([None] for a step without a loop).

    Raises UnresolvedReferenceError when a forEach item chains to a value that is not there.
    """
    loop = step.loop
    if loop is None:
        return [None]
    if loop.kind == "for":
        stop = loop.end + (1 if loop.update_by > 0 else -1)
        values = [str(v) for v in range(loop.start, stop, loop.update_by)]
    elif loop.kind == "list":
        values = [expand_text(as_text(item), scope) for item in loop.items]
    else:
        values = expand_text(loop.text, scope).split(loop.delimiter)
    return [LoopFrame(loop.name, index, value) for index, value in enumerate(values)]


def summary(step: Step, count: int, failed: Sequence[int]) -> dict[str, Any] | None:
    """The `loop` record of a step in detailedoutput.json (None without a loop)."""
    if step.loop is None:
        return None
    return {"name": step.loop.name, "iterationCount": count, "failedIterations": list(failed)}


def merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Add one module call's outputs: lists concatenate, `files` joins with commas, the rest
    (stdout, content, destination) with newlines."""
    for name, value in new.items():
        if name not in into:
            into[name] = value
        elif isinstance(into[name], list) and isinstance(value, list):
            into[name] = into[name] + value
        else:
            separator = "," if name == "files" else "\n"
            into[name] = f"{as_text(into[name])}{separator}{as_text(value)}"


def consolidate(outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Loop iterations' outputs merged per key (stdout values joined with newlines)."""
    merged: dict[str, Any] = {}
    for item in outputs:
        merge(merged, item)
    return merged
