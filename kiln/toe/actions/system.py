"""UpdateOS and Reboot."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from kiln.toe.actions.context import ActionContext, RebootRequested, text_input

PACKAGE_MANAGERS = ("apt-get", "dnf", "yum", "zypper")
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._:~*?\[\]-]*$")
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def update_os(ctx: ActionContext, inputs: Mapping[str, Any]) -> dict[str, str]:
    include = _packages(ctx, inputs, "include")
    exclude = _packages(ctx, inputs, "exclude")
    manager = _detect(ctx)
    if manager == "apt-get":
        _apt(ctx, include, exclude)
    elif manager == "zypper":
        _zypper(ctx, include, exclude)
    else:
        excludes = [f"--exclude={name}" for name in exclude]
        ctx.run([manager, "-y", "upgrade", *excludes, *include])
    return {}


def _packages(ctx: ActionContext, inputs: Mapping[str, Any], key: str) -> list[str]:
    names = [text_input({"n": n}, "n") for n in inputs.get(key) or []]
    for name in names:
        if not _PACKAGE.match(name):
            ctx.fail(f"{name!r} in '{key}' is not a package name")
    return names


def _detect(ctx: ActionContext) -> str:
    for manager in PACKAGE_MANAGERS:
        probe = ["sh", "-c", 'command -v "$1" >/dev/null', "sh", manager]
        if ctx.run(probe, check=False, quiet=True).exit_code == 0:
            return manager
    ctx.fail(f"no supported package manager ({', '.join(PACKAGE_MANAGERS)}) on the instance")


def _apt(ctx: ActionContext, include: list[str], exclude: list[str]) -> None:
    options = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    ctx.run(["apt-get", "update"], env=_APT_ENV)
    if exclude:
        ctx.run(["apt-mark", "hold", *exclude], env=_APT_ENV)
    try:
        if include:
            ctx.run(
                ["apt-get", "install", "-y", "--only-upgrade", *options, *include], env=_APT_ENV
            )
        else:
            ctx.run(["apt-get", "upgrade", "-y", *options], env=_APT_ENV)
    finally:
        if exclude:
            ctx.run(["apt-mark", "unhold", *exclude], env=_APT_ENV, check=False)


def _zypper(ctx: ActionContext, include: list[str], exclude: list[str]) -> None:
    base = ["zypper", "--non-interactive"]
    ctx.run([*base, "refresh"])
    if exclude:
        ctx.run([*base, "addlock", *exclude])
    try:
        ctx.run([*base, "update", *include])
    finally:
        if exclude:
            ctx.run([*base, "removelock", *exclude], check=False)


def reboot(ctx: ActionContext, inputs: Mapping[str, Any]) -> dict[str, str]:
    delay = inputs.get("delaySeconds") or 0
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
        ctx.fail(f"delaySeconds must be a non-negative integer, got {delay!r}")
    if delay:
        time.sleep(delay)
    raise RebootRequested(rerun=False)


MODULES = {"UpdateOS": update_os, "Reboot": reboot}
