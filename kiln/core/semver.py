"""Semantic versions as Image Builder uses them, and `x` wildcard selectors.

A version is `major.minor.patch`, each 0..2^30-1. A selector may replace nodes with `x`, and once
one node is `x` every node to its right must be too: `x.x.x`, `1.x.x`, `1.2.x`, `1.2.3`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

MAX_NODE = 2**30 - 1
_EXACT = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_SELECTOR = re.compile(r"^([0-9]+|x)\.([0-9]+|x)\.([0-9]+|x)$")

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        if not _EXACT.match(text):
            raise ValueError(f"{text!r} is not a semantic version <major>.<minor>.<patch>")
        major, minor, patch = (int(n) for n in text.split("."))
        for node in (major, minor, patch):
            if node > MAX_NODE:
                raise ValueError(f"version node {node} of {text!r} exceeds {MAX_NODE}")
        return cls(major, minor, patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class VersionSelector:
    """A version with optional `x` wildcards; None stands for `x`."""

    major: int | None
    minor: int | None
    patch: int | None

    @classmethod
    def parse(cls, text: str) -> VersionSelector:
        match = _SELECTOR.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a version or an x-wildcard version")
        nodes = [None if n == "x" else int(n) for n in match.groups()]
        seen_wildcard = False
        for node in nodes:
            if node is None:
                seen_wildcard = True
            elif seen_wildcard:
                raise ValueError(
                    f"{text!r}: once a node is 'x', every node to its right must be 'x'"
                )
            elif node > MAX_NODE:
                raise ValueError(f"version node {node} of {text!r} exceeds {MAX_NODE}")
        return cls(nodes[0], nodes[1], nodes[2])

    @property
    def is_exact(self) -> bool:
        return self.patch is not None

    def exact(self) -> Version:
        if self.major is None or self.minor is None or self.patch is None:
            raise ValueError(f"{self} is a wildcard, not a version")
        return Version(self.major, self.minor, self.patch)

    def matches(self, version: Version) -> bool:
        return all(
            want is None or want == have
            for want, have in zip(
                (self.major, self.minor, self.patch),
                (version.major, version.minor, version.patch),
                strict=True,
            )
        )

    def latest(self, candidates: Iterable[tuple[Version, T]]) -> T | None:
        """The item of the highest matching version, or None."""
        best: tuple[Version, T] | None = None
        for version, item in candidates:
            if self.matches(version) and (best is None or version > best[0]):
                best = (version, item)
        return best[1] if best is not None else None

    def __str__(self) -> str:
        return ".".join("x" if n is None else str(n) for n in (self.major, self.minor, self.patch))
