"""File and folder modules, done on the instance with coreutils (argv lists) and transfers.

Every input value becomes one argv element (after `--` where the tool allows it), so a value
is a name, never shell code. Content transforms (encodings) happen on host temp files.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from kiln.toe.actions.context import ActionContext, bool_input, text_input

READ_LIMIT = 16 << 20
_PERMISSIONS = re.compile(r"^[0-7]{3,4}$")
_CODECS = {
    "utf8": "utf-8", "utf-8": "utf-8",
    "utf16": "utf-16-le", "utf-16": "utf-16-le", "utf16-le": "utf-16-le", "utf-16-le": "utf-16-le",
    "utf16-be": "utf-16-be", "utf-16-be": "utf-16-be",
    "utf32": "utf-32-le", "utf-32": "utf-32-le", "utf32-le": "utf-32-le", "utf-32-le": "utf-32-le",
    "utf32-be": "utf-32-be", "utf-32-be": "utf-32-be",
}  # fmt: skip


def _codec(ctx: ActionContext, item: Mapping[str, Any]) -> str:
    name = text_input(item, "encoding", "utf8").lower()
    if name not in _CODECS:
        ctx.fail(f"unsupported encoding {name!r}")
    return _CODECS[name]


def _encode(text: str, codec: str) -> bytes:
    return text.encode(codec, "surrogateescape" if codec == "utf-8" else "replace")


def _required(ctx: ActionContext, item: Mapping[str, Any], key: str) -> str:
    value = text_input(item, key)
    if not value:
        ctx.fail(f"'{key}' is required")
    return value


def _arg(path: str) -> str:
    """A path safe as a non-option argument for tools without `--` (find)."""
    return f"./{path}" if path.startswith("-") else path


def _has_wildcard(path: str) -> bool:
    return any(c in path for c in "*?[")


def _matches(ctx: ActionContext, pattern: str, kind: str) -> list[str]:
    """Expand a wildcard in the last segment of `pattern` (kind: f files, d folders)."""
    folder, name = posixpath.split(pattern)
    if _has_wildcard(folder):
        ctx.fail(f"wildcards are allowed only in the last segment: {pattern!r}")
    if not _has_wildcard(name):
        return [pattern]
    argv = [
        "find",
        _arg(folder or "."),
        "-mindepth",
        "1",
        "-maxdepth",
        "1",
        "-type",
        kind,
        "-name",
        name,
        "-print0",
    ]
    found = ctx.run(argv, quiet=True).output
    paths = sorted(p for p in found.split("\0") if p)
    if not paths:
        ctx.fail(f"nothing matches {pattern!r}")
    return paths


def _ownership(ctx: ActionContext, item: Mapping[str, Any], path: str) -> None:
    permissions = text_input(item, "permissions")
    if permissions:
        _chmod(ctx, permissions, path, recursive=False)
    owner, group = text_input(item, "owner"), text_input(item, "group")
    if owner:
        ctx.run(["chown", f"{owner}:{group}" if group else owner, "--", path])
    elif group:
        ctx.run(["chgrp", group, "--", path])


def _chmod(ctx: ActionContext, permissions: str, path: str, *, recursive: bool) -> None:
    if not _PERMISSIONS.match(permissions):
        ctx.fail(f"permissions must be an octal string such as '0755', got {permissions!r}")
    ctx.run(["chmod", *(["-R"] if recursive else []), permissions, "--", path])


def _mkdir(ctx: ActionContext, path: str) -> None:
    if path and path != "/":
        ctx.run(["mkdir", "-p", "--", path])


def _refuse_existing(ctx: ActionContext, item: Mapping[str, Any], path: str) -> None:
    if not bool_input(item, "overwrite", default=True) and ctx.test("e", path):
        ctx.fail(f"'{path}' already exists and 'overwrite' is false")


def create_file(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path = _required(ctx, item, "path")
    _refuse_existing(ctx, item, path)
    if ctx.test("d", path):
        ctx.fail(f"'{path}' is a folder")
    data = _encode(text_input(item, "content"), _codec(ctx, item))
    _mkdir(ctx, posixpath.dirname(path))
    with ctx.host_file(data) as local:
        ctx.upload(local, path)
    _ownership(ctx, item, path)
    return {}


def append_file(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path = _required(ctx, item, "path")
    if not ctx.test("f", path):
        ctx.fail(f"file '{path}' does not exist")
    data = _encode(text_input(item, "content"), _codec(ctx, item))
    ctx.run(["dd", f"of={path}", "oflag=append", "conv=notrunc", "status=none"], stdin=data)
    return {}


def read_file(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path = _required(ctx, item, "path")
    if not ctx.test("f", path):
        ctx.fail(f"file '{path}' does not exist")
    codec = _codec(ctx, item)
    with ctx.host_file() as local:
        ctx.download(path, local)
        if local.stat().st_size > READ_LIMIT:
            ctx.fail(f"'{path}' is larger than {READ_LIMIT >> 20} MiB")
        content = local.read_bytes().decode(codec, "replace")
    if bool_input(item, "printFileContent", default=False):
        ctx.console(_encode(content + "\n", "utf-8"))
    return {"content": content}


def create_folder(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path = _required(ctx, item, "path")
    _refuse_existing(ctx, item, path)
    if ctx.test("e", path) and not ctx.test("d", path):
        ctx.fail(f"'{path}' exists and is not a folder")
    ctx.run(["mkdir", "-p", "--", path])
    _ownership(ctx, item, path)
    return {}


def create_symlink(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path, target = _required(ctx, item, "path"), _required(ctx, item, "target")
    if not ctx.test("e", target):
        ctx.fail(f"target '{target}' does not exist")
    force = bool_input(item, "force", default=False)
    if not force and (ctx.test("e", path) or ctx.test("L", path)):
        ctx.fail(f"'{path}' already exists; set force: true to replace it")
    ctx.run(["ln", "-s", "-T", *(["-f"] if force else []), "--", target, path])
    return {}


def delete_file(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    pattern = _required(ctx, item, "path")
    for path in _matches(ctx, pattern, "f"):
        if ctx.test("d", path) and not ctx.test("L", path):
            ctx.fail(f"'{path}' is a folder; use DeleteFolder")
        if not (ctx.test("e", path) or ctx.test("L", path)):
            ctx.fail(f"file '{path}' does not exist")
        ctx.run(["rm", "-f", "--", path])
    return {}


def delete_folder(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path = _required(ctx, item, "path")
    if not ctx.test("d", path):
        ctx.fail(f"folder '{path}' does not exist")
    if bool_input(item, "force", default=False):
        ctx.run(["rm", "-rf", "--", path])
    elif ctx.run(["rmdir", "--", path], check=False).exit_code != 0:
        ctx.fail(f"folder '{path}' is not empty; set force: true to delete it")
    return {}


def list_files(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path = _required(ctx, item, "path")
    if not ctx.test("d", path):
        ctx.fail(f"folder '{path}' does not exist")
    argv = ["find", _arg(path), "-mindepth", "1"]
    if not bool_input(item, "recursive", default=False):
        argv += ["-maxdepth", "1"]
    argv += ["-type", "f"]
    pattern = text_input(item, "fileNamePattern")
    if pattern:
        argv += ["-name", pattern]
    found = ctx.run([*argv, "-print0"], quiet=True).output
    return {"files": ",".join(sorted(p for p in found.split("\0") if p))}


def _targets(ctx: ActionContext, item: Mapping[str, Any], kind: str) -> list[tuple[str, str]]:
    source, destination = _required(ctx, item, "source"), _required(ctx, item, "destination")
    into = destination.endswith("/")
    if _has_wildcard(posixpath.basename(source)) and not into:
        ctx.fail("a wildcard source needs a destination ending with '/'")
    pairs = []
    for path in _matches(ctx, source, kind):
        if not ctx.test(kind, path):
            what = "file" if kind == "f" else "folder"
            ctx.fail(f"source {what} '{path}' does not exist")
        target = (
            posixpath.join(destination, posixpath.basename(path.rstrip("/")))
            if into
            else destination
        )
        _refuse_existing(ctx, item, target)
        pairs.append((path, target))
    return pairs


def copy_file(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    for source, target in _targets(ctx, item, "f"):
        _mkdir(ctx, posixpath.dirname(target))
        ctx.run(["cp", "-f", "-T", "--", source, target])
    return {}


def move_file(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    for source, target in _targets(ctx, item, "f"):
        _mkdir(ctx, posixpath.dirname(target))
        ctx.run(["mv", "-f", "-T", "--", source, target])
    return {}


def copy_folder(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    for source, target in _targets(ctx, item, "d"):
        _mkdir(ctx, posixpath.dirname(target.rstrip("/")))
        ctx.run(["cp", "-R", "-T", "--", source, target])
    return {}


def move_folder(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    for source, target in _targets(ctx, item, "d"):
        _mkdir(ctx, posixpath.dirname(target.rstrip("/")))
        if ctx.test("e", target):
            ctx.run(["rm", "-rf", "--", target])
        ctx.run(["mv", "-T", "--", source, target])
    return {}


def set_file_encoding(ctx: ActionContext, item: Mapping[str, Any]) -> dict[str, str]:
    path = _required(ctx, item, "path")
    codec = _codec(ctx, item)
    if not ctx.test("f", path):
        ctx.fail(f"file '{path}' does not exist")
    with ctx.host_file() as local:
        ctx.download(path, local)
        try:
            text = local.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            ctx.fail(f"'{path}' is not UTF-8 text")
        local.write_bytes(_encode(text, codec))
        ctx.upload(local, path)
    return {}


def _set_owner(ctx: ActionContext, item: Mapping[str, Any], kind: str) -> dict[str, str]:
    path, owner = _required(ctx, item, "path"), _required(ctx, item, "owner")
    if not ctx.test(kind, path):
        ctx.fail(f"{'file' if kind == 'f' else 'folder'} '{path}' does not exist")
    group = text_input(item, "group")
    recursive = kind == "d" and bool_input(item, "recursive", default=True)
    ctx.run(["chown", *(["-R"] if recursive else []), f"{owner}:{group}", "--", path])
    return {}


def _set_permissions(ctx: ActionContext, item: Mapping[str, Any], kind: str) -> dict[str, str]:
    path, permissions = _required(ctx, item, "path"), _required(ctx, item, "permissions")
    if not ctx.test(kind, path):
        ctx.fail(f"{'file' if kind == 'f' else 'folder'} '{path}' does not exist")
    recursive = kind == "d" and bool_input(item, "recursive", default=True)
    _chmod(ctx, permissions, path, recursive=recursive)
    return {}


MODULES = {
    "CreateFile": create_file,
    "AppendFile": append_file,
    "ReadFile": read_file,
    "CreateFolder": create_folder,
    "CreateSymlink": create_symlink,
    "DeleteFile": delete_file,
    "DeleteFolder": delete_folder,
    "ListFiles": list_files,
    "CopyFile": copy_file,
    "CopyFolder": copy_folder,
    "MoveFile": move_file,
    "MoveFolder": move_folder,
    "SetFileEncoding": set_file_encoding,
    "SetFileOwner": lambda ctx, item: _set_owner(ctx, item, "f"),
    "SetFolderOwner": lambda ctx, item: _set_owner(ctx, item, "d"),
    "SetFilePermissions": lambda ctx, item: _set_permissions(ctx, item, "f"),
    "SetFolderPermissions": lambda ctx, item: _set_permissions(ctx, item, "d"),
}
