"""A small Debian security archive on loopback for the scanner's tests: real .deb files built
with dpkg-deb, a Packages.xz index and an (unsigned) InRelease naming its checksum."""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import hashlib
import http.server
import lzma
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CODENAME = "bookworm"


def require_dpkg_deb() -> None:
    if shutil.which("dpkg-deb") is None:
        reason = "dpkg-deb is not installed (it builds the test mirror's packages)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def build_deb(
    work: Path, name: str, version: str, *, changelog: str | None, arch: str = "amd64",
    source: str | None = None, doc_link: str | None = None, native: bool = False,
) -> Path:  # fmt: skip
    """A real .deb; its doc directory holds `changelog` or is a symlink to `doc_link`."""
    root = work / f"{name}_{version}_{arch}".replace(":", "%3a")
    (root / "DEBIAN").mkdir(parents=True)
    control = f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
    if source:
        control += f"Source: {source}\n"
    control += "Maintainer: Kiln <kiln@example.org>\nDescription: test package\n"
    (root / "DEBIAN" / "control").write_text(control)
    doc = root / "usr" / "share" / "doc"
    doc.mkdir(parents=True)
    if doc_link:
        (doc / name).symlink_to(doc_link)
    elif changelog is not None:
        (doc / name).mkdir()
        filename = "changelog.gz" if native else "changelog.Debian.gz"
        (doc / name / filename).write_bytes(gzip.compress(changelog.encode()))
    out = work / f"{root.name}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out


@dataclass
class FakeMirror:
    root: Path
    stanzas: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def add(self, deb: Path, *, name: str, version: str, source: str | None = None,
            arch: str = "amd64") -> None:  # fmt: skip
        pool = f"pool/updates/main/{name[0]}/{source or name}/{deb.name}"
        target = self.root / pool
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(deb, target)
        data = target.read_bytes()
        stanza = f"Package: {name}\n"
        if source:
            stanza += f"Source: {source}\n"
        stanza += (
            f"Version: {version}\nArchitecture: {arch}\nFilename: {pool}\n"
            f"Size: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
        self.stanzas.append(stanza)

    def publish(self, *, valid_for: dt.timedelta = dt.timedelta(days=7)) -> None:
        suite = self.root / "dists" / f"{CODENAME}-security"
        index = suite / "main" / "binary-amd64" / "Packages.xz"
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_bytes(lzma.compress("\n".join(self.stanzas).encode()))
        data = index.read_bytes()
        until = email.utils.format_datetime(dt.datetime.now(dt.UTC) + valid_for, usegmt=True)
        (suite / "InRelease").write_text(
            f"Origin: Debian\nCodename: {CODENAME}-security\nValid-Until: {until}\nSHA256:\n"
            f" {hashlib.sha256(data).hexdigest()} {len(data)} main/binary-amd64/Packages.xz\n"
        )


@contextmanager
def serve(mirror: FakeMirror) -> Iterator[FakeMirror]:
    root = mirror.root

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *_args) -> None:  # type: ignore[no-untyped-def]
            mirror.requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
