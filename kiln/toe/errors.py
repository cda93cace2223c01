"""Errors of the component language and its runner.

    KilnError
    ├── DocumentInvalidError   a document failed validation; `.problems` lists every fault found
    └── ToeRunError            a run could not start (bad parameters, unreadable document, state)

Step failures are not exceptions at this level: they are recorded as step statuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kiln.core.errors import KilnError


@dataclass(frozen=True)
class Problem:
    """One fault in a document: where it is and what is wrong."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class DocumentInvalidError(KilnError):
    """A component document is not valid; every problem found is in `problems`."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class ToeRunError(KilnError):
    """A run could not be started or resumed."""
