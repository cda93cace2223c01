"""The base disk store: flavors, versions, cache hits (no build, no VM)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kiln.artifacts.debian import debian_release
from kiln.artifacts.vmdisk import RECIPE, BaseDiskSpec, ensure_base_disk, newest_base_disk


def _fake_disk(store: Path, version: str, flavor: str, *, complete: bool = True) -> Path:
    folder = store / "debian-12-x86" / version
    folder.mkdir(parents=True, exist_ok=True)
    disk = folder / f"{flavor}.qcow2"
    disk.write_bytes(b"QFI\xfb")
    if complete:
        (folder / f"{flavor}.vmlinuz").write_bytes(b"kernel")
        (folder / f"{flavor}.json").write_text("{}")
    return disk


def test_flavors_differ_only_in_the_agent_and_ssh() -> None:
    bookworm = debian_release("12")
    plain = BaseDiskSpec(bookworm)
    assert plain.flavor == "base"
    assert "qemu-guest-agent" not in plain.packages
    assert {"linux-image-amd64", "systemd-sysv", "grub-pc-bin"} <= set(plain.packages)
    with_agent = BaseDiskSpec(bookworm, guest_agent=True, ssh=True)
    assert with_agent.flavor == "base-agent-ssh"
    assert set(with_agent.packages) - set(plain.packages) == {"qemu-guest-agent", "openssh-server"}


def test_newest_complete_disk_of_the_flavor_wins(tmp_path: Path) -> None:
    spec = BaseDiskSpec(debian_release("12"))
    _fake_disk(tmp_path, f"1.{RECIPE}.20261101", "base")
    newest = _fake_disk(tmp_path, f"1.{RECIPE}.20261120", "base")
    _fake_disk(tmp_path, f"1.{RECIPE}.20261125", "base", complete=False)  # interrupted build
    _fake_disk(tmp_path, f"1.{RECIPE}.20261128", "base-agent")  # another flavor
    _fake_disk(tmp_path, f"1.{RECIPE + 1}.20261129", "base")  # a future recipe
    found = newest_base_disk(tmp_path, spec)
    assert found is not None
    assert (found.path, found.version) == (newest, f"1.{RECIPE}.20261120")
    assert found.kernel == newest.with_suffix(".vmlinuz")
    assert found.name == "debian-12-x86"


def test_a_fit_cached_disk_is_reused_without_building(tmp_path: Path) -> None:
    disk = _fake_disk(tmp_path, f"1.{RECIPE}.20261120", "base")
    # mirror=None would need the host's apt sources only when building; nothing is built here
    found = ensure_base_disk(
        tmp_path, "bookworm", max_age=dt.timedelta(days=30), today=dt.date(2026, 11, 29)
    )
    assert found.path == disk
    assert (tmp_path / "locks" / "debian-12-base.lock").exists()
