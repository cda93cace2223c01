"""Assert, and the instance probe that `if` conditions and Assert use for file questions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kiln.toe import conditions
from kiln.toe.actions.context import ActionContext
from kiln.toe.actions.transfer import remote_digest


class InstanceProbe:
    """Answers conditions' file questions by exec on the instance (argv lists only)."""

    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    def binary_exists(self, name: str) -> bool:
        argv = ["bash", "-c", 'type -- "$1" >/dev/null 2>&1', "bash", name]
        return self.ctx.run(argv, check=False, quiet=True).exit_code == 0

    def file_exists(self, path: str) -> bool:
        return self.ctx.test("f", path)

    def folder_exists(self, path: str) -> bool:
        return self.ctx.test("d", path)

    def file_hash(self, path: str, algorithm: str) -> str | None:
        return remote_digest(self.ctx, path, algorithm)


def assert_module(ctx: ActionContext, inputs: Mapping[str, Any]) -> dict[str, str]:
    if not conditions.evaluate(inputs, InstanceProbe(ctx)):
        ctx.fail(f"assertion is false: {json.dumps(dict(inputs), default=str)}")
    return {}


MODULES = {"Assert": assert_module}
