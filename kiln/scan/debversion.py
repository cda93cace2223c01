"""Debian package versions, compared exactly as dpkg compares them (lib/dpkg/version.c).

    [epoch:]upstream_version[-debian_revision]

The epoch compares as a number; the upstream version and the revision compare by `verrevcmp`:
alternating runs of non-digits (letters sort before other characters, `~` before everything,
even the end of the string) and of digits (as numbers, leading zeros ignored).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from kiln.core.errors import KilnError

_UPSTREAM = re.compile(r"^[0-9][A-Za-z0-9.+~:-]*$")
_REVISION = re.compile(r"^[A-Za-z0-9.+~]+$")


class InvalidVersionError(KilnError):
    """A string that is not a Debian version."""


@functools.total_ordering
@dataclass(frozen=True)
class DebianVersion:
    epoch: int
    upstream: str
    revision: str = ""

    @classmethod
    def parse(cls, text: str) -> DebianVersion:
        """Split as dpkg's parseversion does: the epoch before the first ':', the revision
        after the last '-'."""
        value = text.strip()
        epoch = 0
        if ":" in value:
            head, _, value = value.partition(":")
            if not (head.isascii() and head.isdigit()):
                raise InvalidVersionError(f"'{text}': the epoch is not a number")
            epoch = int(head)
        upstream, dash, revision = value.rpartition("-")
        if not dash:
            upstream, revision = value, ""
        elif not revision:
            raise InvalidVersionError(f"'{text}': the revision is empty")
        if not _UPSTREAM.match(upstream) or (revision and not _REVISION.match(revision)):
            raise InvalidVersionError(f"'{text}' is not a Debian version")
        return cls(epoch, upstream, revision)

    def __str__(self) -> str:
        text = f"{self.epoch}:{self.upstream}" if self.epoch else self.upstream
        return f"{text}-{self.revision}" if self.revision else text

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, DebianVersion):
            return NotImplemented
        return compare_parsed(self, other) < 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DebianVersion):
            return NotImplemented
        return compare_parsed(self, other) == 0

    def __hash__(self) -> int:
        return hash(str(self))


def compare(a: str, b: str) -> int:
    """<0, 0 or >0 as version a is older than, the same as, or newer than b."""
    return compare_parsed(DebianVersion.parse(a), DebianVersion.parse(b))


def compare_parsed(a: DebianVersion, b: DebianVersion) -> int:
    if a.epoch != b.epoch:
        return -1 if a.epoch < b.epoch else 1
    return verrevcmp(a.upstream, b.upstream) or verrevcmp(a.revision, b.revision)


def _digit(char: str) -> bool:
    return "0" <= char <= "9"


def _order(char: str) -> int:
    if _digit(char):
        return 0
    if char.isascii() and char.isalpha():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp over two version parts (sign only: -1, 0, 1)."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not _digit(a[i])) or (j < len(b) and not _digit(b[j])):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and _digit(a[i]) and j < len(b) and _digit(b[j]):
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and _digit(a[i]):
            return 1
        if j < len(b) and _digit(b[j]):
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0
