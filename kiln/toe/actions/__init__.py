"""Action modules: each takes the context and its (expanded) inputs and returns its outputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kiln.toe.actions import assertion, execute, files, system, transfer
from kiln.toe.actions.context import ActionContext

Module = Callable[[ActionContext, Mapping[str, Any]], dict[str, str]]
"""Runs one input object (list-shaped actions are called once per item, in order)."""

MODULES: dict[str, Module] = {
    **assertion.MODULES,
    **execute.MODULES,
    **files.MODULES,
    **transfer.MODULES,
    **system.MODULES,
}
