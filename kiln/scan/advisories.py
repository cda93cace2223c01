"""The AdvisorySource port: what the scanner asks of a distribution's security archive.

DebianSecurityArchive (archive.py) reads Debian's; tests give a fake at this port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from kiln.core.errors import KilnError
from kiln.scan.index import SourceUpdate


class AdvisoryUnavailableError(KilnError):
    """The security archive cannot be read: unreachable, unsigned, corrupt or expired."""


class AdvisorySource(Protocol):
    @property
    def location(self) -> str:
        """Where the advisories come from (an URL), for messages."""
        ...

    def updates(self, codename: str, architecture: str) -> Mapping[str, SourceUpdate]:
        """Source package name → its newest version in `<codename>-security`."""
        ...

    def changelog(
        self, codename: str, update: SourceUpdate, installed: Sequence[str]
    ) -> str | None:
        """The Debian changelog of the fixed version (read from one of its binary packages,
        those in `installed` first); None when none of them ships one."""
        ...
