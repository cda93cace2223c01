"""The parts of `kiln images run` that need no VM: logins in a guest root, leftover sweeps."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from kiln.amis.run import (
    AUTOLOGIN_DROPIN,
    DEVICE_TIMEOUT_CONF,
    RunError,
    make_loginable,
    remove_leftovers,
)


def test_make_loginable_adds_autologin_and_the_key_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "root" / ".ssh").mkdir(parents=True)
    (root / "root" / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA old\n")
    make_loginable(root, autologin=True, ssh_key="ssh-ed25519 BBBB person\n")
    assert "--autologin root" in (root / AUTOLOGIN_DROPIN).read_text()
    assert "DefaultDeviceTimeoutSec" in (root / DEVICE_TIMEOUT_CONF).read_text()
    keys = root / "root" / ".ssh" / "authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAA old\nssh-ed25519 BBBB person\n"
    assert keys.stat().st_mode & 0o777 == 0o600
    plain = tmp_path / "plain"
    plain.mkdir()
    make_loginable(plain, autologin=False, ssh_key=None)
    assert list(plain.iterdir()) == []


def test_a_guest_symlink_out_of_its_root_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "host-root"
    outside.mkdir()
    root.mkdir()
    (root / "root").symlink_to(outside)
    with pytest.raises(RunError, match="leaves the guest"):
        make_loginable(root, autologin=False, ssh_key="ssh-ed25519 CCCC x")
    assert not (outside / ".ssh").exists()
    (root / "etc").symlink_to(outside)  # deeper: a missing folder under a symlinked one
    with pytest.raises(RunError, match="leaves the guest"):
        make_loginable(root, autologin=True, ssh_key=None)
    assert list(outside.iterdir()) == []


def test_leftover_layers_of_dead_runs_are_removed_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / "run-i-0000000000000000a"
    live = tmp_path / "run-i-0000000000000000b"
    for work in (dead, live):
        work.mkdir()
        (work / "layer.qcow2").write_bytes(b"x")
    (dead / "owner.lock").touch()
    with (live / "owner.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert remove_leftovers(tmp_path) == [dead.name]
    assert not dead.exists() and (live / "layer.qcow2").exists()
