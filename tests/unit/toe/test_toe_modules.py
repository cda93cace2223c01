"""Every Linux action module, run through the Communicator on the local host in a temp dir
(UpdateOS and Reboot through the FakeCommunicator only)."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pwd
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kiln.toe import FakeCommunicator, MemoryObjectStore, Scripted
from tests.unit.toe.helpers import document, outputs, steps


def step(name: str, action: str, inputs: Any, **fields: Any) -> dict[str, Any]:
    return {"name": name, "action": action, "inputs": inputs, **fields}


def test_create_append_read_and_encoding(run, tmp_path):
    path = tmp_path / "deep" / "dir" / "f.txt"
    result = run(
        document(
            step(
                "Create",
                "CreateFile",
                [{"path": str(path), "content": "héllo", "permissions": "0640"}],
            ),
            step("Append", "AppendFile", [{"path": str(path), "content": " wörld"}]),
            step("Read", "ReadFile", [{"path": str(path), "printFileContent": True}]),
            step(
                "Utf16",
                "CreateFile",
                [{"path": f"{path}.16", "content": "hi", "encoding": "utf16"}],
            ),
            step("Convert", "SetFileEncoding", [{"path": str(path), "encoding": "utf-32-be"}]),
        )
    )
    assert result.status == "success", result.failure_message
    assert outputs(result, "Read") == {"content": "héllo wörld"}
    assert path.read_bytes() == "héllo wörld".encode("utf-32-be")
    assert Path(f"{path}.16").read_bytes() == "hi".encode("utf-16-le")
    assert b"h\xc3\xa9llo w\xc3\xb6rld" in (result.log_url / "console.log").read_bytes()


def test_create_file_without_overwrite_refuses(run, tmp_path):
    path = tmp_path / "f"
    path.write_text("keep")
    result = run(
        document(
            step("C", "CreateFile", [{"path": str(path), "content": "new", "overwrite": False}])
        )
    )
    assert "already exists" in steps(result)["C"]["failureMessage"]
    assert path.read_text() == "keep"


def test_append_to_missing_file_fails(run, tmp_path):
    result = run(document(step("A", "AppendFile", [{"path": str(tmp_path / "nope")}])))
    assert "does not exist" in steps(result)["A"]["failureMessage"]


def test_folders_symlinks_and_listing(run, tmp_path):
    base = tmp_path / "tree"
    result = run(
        document(
            step("Dirs", "CreateFolder", [{"path": str(base / "a" / "b"), "permissions": "0750"}]),
            step(
                "Files",
                "CreateFile",
                [
                    {"path": str(base / "a" / "one.txt")},
                    {"path": str(base / "a" / "b" / "two.txt")},
                    {"path": str(base / "a" / "three.log")},
                ],
            ),
            step("Top", "ListFiles", [{"path": str(base / "a")}]),
            step(
                "Deep",
                "ListFiles",
                [{"path": str(base / "a"), "recursive": True, "fileNamePattern": "*.txt"}],
            ),
            step(
                "Link",
                "CreateSymlink",
                [{"path": str(tmp_path / "link"), "target": str(base / "a" / "one.txt")}],
            ),
            step(
                "Relink",
                "CreateSymlink",
                [
                    {
                        "path": str(tmp_path / "link"),
                        "force": True,
                        "target": str(base / "a" / "three.log"),
                    }
                ],
            ),
        )
    )
    assert result.status == "success", result.failure_message
    a = base / "a"
    assert outputs(result, "Top") == {"files": f"{a}/one.txt,{a}/three.log"}
    assert outputs(result, "Deep") == {"files": f"{a}/b/two.txt,{a}/one.txt"}
    assert stat.S_IMODE((a / "b").stat().st_mode) == 0o750
    assert os.readlink(tmp_path / "link") == str(a / "three.log")


def test_symlink_needs_existing_target_and_force(run, tmp_path):
    (tmp_path / "t").write_text("x")
    (tmp_path / "l").write_text("already")
    result = run(
        document(
            step(
                "NoTarget",
                "CreateSymlink",
                [{"path": str(tmp_path / "x"), "target": str(tmp_path / "missing")}],
                onFailure="Continue",
            ),
            step(
                "Exists",
                "CreateSymlink",
                [{"path": str(tmp_path / "l"), "target": str(tmp_path / "t")}],
            ),
        )
    )
    assert "does not exist" in steps(result)["NoTarget"]["failureMessage"]
    assert "force: true" in steps(result)["Exists"]["failureMessage"]


def test_copy_move_delete(run, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "c.log"):
        (src / name).write_text(name)
    (src / "sub" / "d.txt").write_text("d")
    out = tmp_path / "out"
    result = run(
        document(
            step("Wild", "CopyFile", [{"source": f"{src}/*.txt", "destination": f"{out}/wild/"}]),
            step("Rename", "CopyFile", [{"source": f"{src}/c.log", "destination": f"{out}/x.log"}]),
            step("Folder", "CopyFolder", [{"source": str(src), "destination": f"{out}/copies/"}]),
            step(
                "MoveF", "MoveFile", [{"source": f"{out}/x.log", "destination": f"{out}/y/z.log"}]
            ),
            step(
                "MoveD",
                "MoveFolder",
                [{"source": f"{out}/copies/src", "destination": f"{out}/moved"}],
            ),
            step("DelF", "DeleteFile", [{"path": f"{out}/wild/*.txt"}]),
            step("DelEmpty", "DeleteFolder", [{"path": f"{out}/wild"}]),
            step("DelTree", "DeleteFolder", [{"path": f"{out}/moved", "force": True}]),
        )
    )
    assert result.status == "success", result.failure_message
    assert (out / "y" / "z.log").read_text() == "c.log"
    assert not (out / "x.log").exists()
    assert not (out / "wild").exists() and not (out / "moved").exists()
    assert not (out / "copies" / "src").exists()


def test_copy_folder_result_and_overwrite_false(run, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "d.txt").write_text("d")
    result = run(
        document(
            step("Copy", "CopyFolder", [{"source": str(src), "destination": f"{tmp_path}/dst"}]),
            step(
                "Again",
                "CopyFolder",
                [{"source": str(src), "destination": f"{tmp_path}/dst", "overwrite": False}],
            ),
        )
    )
    assert (tmp_path / "dst" / "sub" / "d.txt").read_text() == "d"
    assert "'overwrite' is false" in steps(result)["Again"]["failureMessage"]


def test_delete_non_empty_folder_needs_force(run, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    result = run(document(step("D", "DeleteFolder", [{"path": str(tmp_path / "full")}])))
    assert "not empty" in steps(result)["D"]["failureMessage"]
    assert (tmp_path / "full" / "x").exists()


def test_owner_and_permissions(run, tmp_path):
    folder = tmp_path / "owned"
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "f").write_text("x")
    single = tmp_path / "single"
    single.write_text("x")
    nobody = pwd.getpwnam("nobody")
    result = run(
        document(
            step("Own", "SetFileOwner", [{"path": str(single), "owner": "nobody"}]),
            step("OwnTree", "SetFolderOwner", [{"path": str(folder), "owner": "nobody"}]),
            step("Perm", "SetFilePermissions", [{"path": str(single), "permissions": "0600"}]),
            step(
                "PermTree", "SetFolderPermissions", [{"path": str(folder), "permissions": "0700"}]
            ),
        )
    )
    assert result.status == "success", result.failure_message
    assert single.stat().st_uid == nobody.pw_uid
    assert (folder / "inner" / "f").stat().st_uid == nobody.pw_uid
    assert stat.S_IMODE(single.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "inner" / "f").stat().st_mode) == 0o700


def test_owner_of_unknown_user_fails(run, tmp_path):
    (tmp_path / "f").write_text("x")
    result = run(
        document(
            step(
                "Own", "SetFileOwner", [{"path": str(tmp_path / "f"), "owner": "no-such-user-kiln"}]
            )
        )
    )
    assert "chown" in steps(result)["Own"]["failureMessage"]


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {"/file.bin": b"payload" * 1000}
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/file.bin")
            self.end_headers()
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_web_download(run, tmp_path, web):
    digest = hashlib.sha256(_Handler.files["/file.bin"]).hexdigest()
    result = run(
        document(
            step(
                "Get",
                "WebDownload",
                [
                    {
                        "source": f"{web}/file.bin",
                        "destination": f"{tmp_path}/dl/",
                        "checksum": digest,
                        "algorithm": "SHA256",
                    },
                    {"source": f"{web}/redirect", "destination": f"{tmp_path}/other/r.bin"},
                ],
            ),
        )
    )
    assert result.status == "success", result.failure_message
    assert (tmp_path / "dl" / "file.bin").read_bytes() == _Handler.files["/file.bin"]
    assert (tmp_path / "other" / "r.bin").read_bytes() == _Handler.files["/file.bin"]
    assert outputs(result, "Get") == {
        "destination": f"{tmp_path}/dl/file.bin\n{tmp_path}/other/r.bin"
    }


def test_web_download_skips_matching_file_and_rejects_bad_checksum(run, tmp_path, web):
    body = _Handler.files["/file.bin"]
    (tmp_path / "have.bin").write_bytes(body)
    _Handler.hits.clear()
    result = run(
        document(
            step(
                "Skip",
                "WebDownload",
                [
                    {
                        "source": f"{web}/file.bin",
                        "destination": f"{tmp_path}/have.bin",
                        "checksum": hashlib.md5(body).hexdigest(),
                        "algorithm": "MD5",
                    }
                ],
            ),
            step(
                "Bad",
                "WebDownload",
                [
                    {
                        "source": f"{web}/file.bin",
                        "destination": f"{tmp_path}/bad.bin",
                        "checksum": "0" * 64,
                        "algorithm": "SHA256",
                    }
                ],
                onFailure="Continue",
            ),
            step(
                "Missing",
                "WebDownload",
                [{"source": f"{web}/nothing", "destination": f"{tmp_path}/n.bin"}],
            ),
        )
    )
    assert _Handler.hits.count("/file.bin") == 1  # only the Bad download fetched
    assert "checksum" in steps(result)["Bad"]["failureMessage"]
    assert not (tmp_path / "bad.bin").exists()
    assert "HTTP 404" in steps(result)["Missing"]["failureMessage"]


def test_s3_download_and_upload(run, tmp_path):
    store = MemoryObjectStore()
    store.put_object("bkt", "one/a.txt", io.BytesIO(b"A"))
    store.put_object("bkt", "one/sub/b.txt", io.BytesIO(b"B"))
    (tmp_path / "in").mkdir()
    (tmp_path / "up" / "deep").mkdir(parents=True)
    (tmp_path / "up" / "x.txt").write_text("X")
    (tmp_path / "up" / "deep" / "y.txt").write_text("Y")
    result = run(
        document(
            step(
                "Get",
                "S3Download",
                [{"source": "s3://bkt/one/a.txt", "destination": f"{tmp_path}/in/a.txt"}],
            ),
            step(
                "Prefix",
                "S3Download",
                [{"source": "s3://bkt/one/*", "destination": f"{tmp_path}/in"}],
            ),
            step(
                "NoOverwrite",
                "S3Download",
                [
                    {
                        "source": "s3://bkt/one/a.txt",
                        "overwrite": False,
                        "destination": f"{tmp_path}/in/a.txt",
                    }
                ],
                onFailure="Continue",
            ),
            step(
                "Put",
                "S3Upload",
                [{"source": f"{tmp_path}/up/x.txt", "destination": "s3://out/files/"}],
            ),
            step(
                "PutTree",
                "S3Upload",
                [{"source": f"{tmp_path}/up", "recurse": True, "destination": "s3://out/tree"}],
            ),
            step(
                "NoRecurse", "S3Upload", [{"source": f"{tmp_path}/up", "destination": "s3://out/x"}]
            ),
        ),
        object_store=store,
    )
    assert (tmp_path / "in" / "sub" / "b.txt").read_text() == "B"
    assert (tmp_path / "in" / "a.txt").read_text() == "A"
    assert steps(result)["NoOverwrite"]["failureMessage"] == (
        'S3Download: File already exists and "overwrite" property for "destination" file is '
        "set to false. Cannot download."
    )
    assert store.list_objects("out", "") == ["files/x.txt", "tree/deep/y.txt", "tree/x.txt"]
    assert store.get_object("out", "tree/deep/y.txt").read() == b"Y"
    assert "recurse: true" in steps(result)["NoRecurse"]["failureMessage"]


def test_s3_without_store_fails_clearly(run, tmp_path):
    result = run(
        document(
            step("Get", "S3Download", [{"source": "s3://b/k", "destination": str(tmp_path / "k")}])
        )
    )
    assert (
        steps(result)["Get"]["failureMessage"]
        == "S3Download: no object store is configured for this run"
    )


def test_execute_binary_arguments(run):
    result = run(
        document(
            step(
                "Bin",
                "ExecuteBinary",
                {"path": "/usr/bin/printf", "arguments": ["%s|%s", "a b", "*"]},
            )
        )
    )
    assert outputs(result, "Bin") == {"stdout": "a b|*"}


@pytest.mark.parametrize(
    ("probe", "manager", "expected"),
    [
        (
            "apt-get",
            "apt-get",
            [
                ("apt-get", "update"),
                ("apt-mark", "hold", "linux-image*"),
                ("apt-get", "install", "-y", "--only-upgrade"),
                ("apt-mark", "unhold", "linux-image*"),
            ],
        ),
        ("dnf", "dnf", [("dnf", "-y", "upgrade", "--exclude=linux-image*", "vim")]),
        (
            "zypper",
            "zypper",
            [
                ("zypper", "--non-interactive", "refresh"),
                ("zypper", "--non-interactive", "addlock", "linux-image*"),
                ("zypper", "--non-interactive", "update", "vim"),
                ("zypper", "--non-interactive", "removelock", "linux-image*"),
            ],
        ),
    ],
)
def test_update_os_uses_the_detected_package_manager(run, probe, manager, expected):
    fake = FakeCommunicator()
    fake.on(lambda argv: argv[:2] == ("sh", "-c") and argv[-1] != probe, 1)
    result = run(
        document(step("Up", "UpdateOS", {"include": ["vim"], "exclude": ["linux-image*"]})),
        communicator=fake,
    )
    assert result.status == "success", result.failure_message
    calls = [c for c in fake.argvs() if c[0] != "sh" and c[0] != "rm"]
    for want, got in zip(expected, calls, strict=True):
        assert got[: len(want)] == want
    if manager == "apt-get":
        assert fake.calls[-3].env == {"DEBIAN_FRONTEND": "noninteractive"}


def test_update_os_without_package_manager_and_with_failure(run):
    none = FakeCommunicator()
    none.on(("sh", "-c"), 1)
    result = run(document(step("Up", "UpdateOS", None)), communicator=none)
    assert "no supported package manager" in steps(result)["Up"]["failureMessage"]
    failing = FakeCommunicator()
    failing.on(("sh", "-c"), 0)
    failing.on(("apt-get", "upgrade"), Scripted(exit_code=100, output=b"E: broken\n"))
    result = run(document(step("Up", "UpdateOS", None)), communicator=failing)
    message = steps(result)["Up"]["failureMessage"]
    assert "exited with code 100" in message and "E: broken" in message
    assert ("apt-mark", "hold") not in [c[:2] for c in failing.argvs()]
