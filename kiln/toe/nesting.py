"""ExecuteDocument: running a document from inside a step.

The nested document is found by the run's DocumentLoader (relative paths against the including
document), refused when it would nest more than MAX_NESTING levels deep or close a cycle, parsed
for the including document's platform, and run by the parent execution as a child with its own
log folder. Its summary is the step's `outputs`; its detailed output goes to `detailedOutput`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.toe.actions.context import ActionContext, text_input
from kiln.toe.communicator import Communicator
from kiln.toe.document import Document, RunDocument, resolve_variables
from kiln.toe.errors import DocumentInvalidError, ToeRunError
from kiln.toe.loader import DocumentLoader, DocumentLoadError
from kiln.toe.results import RunResult
from kiln.toe.validate import parse_document

MAX_NESTING = 3
"""Levels of ExecuteDocument below the documents given to the run (so at most 4 documents)."""


@dataclass(frozen=True)
class Including:
    """The document whose step runs ExecuteDocument, and where it sits in the nesting."""

    document: Document
    identity: str  # what cycle detection compares
    ancestry: tuple[str, ...]  # identities of the documents that (transitively) include it
    depth: int  # 0 for a document given to the run


Spawn = Callable[[RunDocument, Mapping[str, str], Sequence[str] | None, tuple[str, ...]], RunResult]
"""Runs a child execution: (document, its variables, phases or None for all, its ancestry)."""


def execute_document(
    ctx: ActionContext,
    inputs: Mapping[str, Any],
    *,
    including: Including,
    loader: DocumentLoader,
    communicator: Communicator,
    scratch: Path,
    spawn: Spawn,
) -> dict[str, Any]:
    """The ExecuteDocument module; ctx.fail()s with the reason when the document cannot run
    or its run fails."""
    if including.depth >= MAX_NESTING:
        ctx.fail(f"documents may nest at most {MAX_NESTING} levels deep")
    reference = text_input(inputs, "document")
    try:
        loaded = loader.load(
            reference, base=including.document.path, communicator=communicator, scratch=scratch
        )
    except DocumentLoadError as exc:
        ctx.fail(str(exc))
    chain = (*including.ancestry, including.identity)
    if loaded.identity in chain:
        ctx.fail(f"cycle: {' -> '.join((*chain, loaded.identity))}")
    try:
        nested = parse_document(
            loaded.text, platform=including.document.platform, path=loaded.label
        )
        parameters = {
            text_input(p, "name"): text_input(p, "value") for p in inputs.get("parameters") or []
        }
        run = RunDocument(nested, parameters)
        values = resolve_variables(run, {})
    except (DocumentInvalidError, ToeRunError) as exc:
        ctx.fail(f"{reference}: {exc}")
    phases = [p.strip() for p in text_input(inputs, "phases").split(",") if p.strip()]
    result = spawn(run, values, phases or None, chain)
    ctx.details.append(result.detailed())
    if not result.succeeded:
        ctx.fail(f"{reference} failed: {result.failure_message}")
    return {"outputs": [result.summary()]}
