"""ExecuteBash, ExecuteBinary and ExecuteDocument."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.toe.actions.context import ActionContext, RebootRequested, text_input

REBOOT_EXIT_CODE = 194


def execute_bash(ctx: ActionContext, inputs: Mapping[str, Any]) -> dict[str, str]:
    """The commands are the user's own script: written to a file on the instance, run by bash.
    (References in them were substituted as text, as AWSTOE does.)"""
    commands = [text_input({"c": c}, "c") for c in inputs.get("commands") or []]
    script = "\n".join(commands) + "\n"
    remote = f"{ctx.work_dir}/input.sh"
    with ctx.host_file(script.encode("utf-8", "surrogateescape")) as local:
        ctx.upload(local, remote)
    ran = ctx.run(["bash", remote], check=False)
    return _finish(ctx, ran.exit_code, ran.output)


def execute_binary(ctx: ActionContext, inputs: Mapping[str, Any]) -> dict[str, str]:
    path = text_input(inputs, "path")
    arguments = [text_input({"a": a}, "a") for a in inputs.get("arguments") or []]
    ran = ctx.run([path, *arguments], check=False)
    return _finish(ctx, ran.exit_code, ran.output)


def _finish(ctx: ActionContext, exit_code: int, output: str) -> dict[str, str]:
    if exit_code == REBOOT_EXIT_CODE:
        raise RebootRequested(rerun=True)
    if exit_code != 0:
        last = output.strip().splitlines()[-1:] if output.strip() else []
        detail = f": {last[0]}" if last else ""
        ctx.fail(f"exited with code {exit_code}{detail}")
    return {"stdout": output}


def execute_document(ctx: ActionContext, inputs: Mapping[str, Any]) -> dict[str, str]:
    if ctx.nested is None:
        ctx.fail("nested documents are not available in this run")
    return ctx.nested(inputs)


MODULES = {
    "ExecuteBash": execute_bash,
    "ExecuteBinary": execute_binary,
    "ExecuteDocument": execute_document,
}
