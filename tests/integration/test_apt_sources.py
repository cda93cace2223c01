from __future__ import annotations

from pathlib import Path

import pytest

from kiln.artifacts.apt_sources import DebianMirror, read_apt_entries
from kiln.core.errors import ConfigurationError

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security/
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main
"""


def _apt_root(tmp_path: Path, *, sources_list: str = "", parts: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        (tmp_path / "sources.list.d" / name).write_text(text)
    return tmp_path


def test_deb822_sources(tmp_path: Path) -> None:
    root = _apt_root(
        tmp_path,
        parts={
            "debian.sources": DEB822,
            "nodesource.sources.disabled": "Types: deb\nURIs: https://x\nSuites: nodistro\n",
            "gcloud.list": "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n",
        },
    )
    mirror = DebianMirror.from_host(root)
    assert mirror == DebianMirror(
        archive="http://deb.debian.org/debian",
        security="http://deb.debian.org/debian-security",
        updates=True,
        components=("main",),
    )
    assert mirror.source_lines("trixie") == [
        "deb http://deb.debian.org/debian trixie main",
        "deb http://deb.debian.org/debian trixie-updates main",
        "deb http://deb.debian.org/debian-security trixie-security main",
    ]


def test_one_line_sources_with_options(tmp_path: Path) -> None:
    root = _apt_root(
        tmp_path,
        parts={},
        sources_list=(
            "# comment\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror.local/debian/ bookworm main contrib\n"
            "deb-src http://mirror.local/debian bookworm main\n"
        ),
    )
    mirror = DebianMirror.from_host(root)
    assert mirror.archive == "http://mirror.local/debian"
    assert mirror.components == ("main", "contrib")
    assert mirror.security is None
    assert mirror.source_lines("bookworm") == [
        "deb http://mirror.local/debian bookworm main contrib"
    ]


def test_disabled_and_missing(tmp_path: Path) -> None:
    root = _apt_root(
        tmp_path,
        parts={
            "a.sources": "Enabled: no\nTypes: deb\nURIs: http://x/debian\nSuites: bookworm\n",
        },
    )
    assert list(read_apt_entries(root)) == []
    with pytest.raises(ConfigurationError, match="no Debian archive"):
        DebianMirror.from_host(root)


def test_this_host_has_a_mirror() -> None:
    if not Path("/etc/apt").is_dir():
        pytest.skip("no /etc/apt on this host")
    assert DebianMirror.from_host().archive.startswith(("http://", "https://", "file:"))
