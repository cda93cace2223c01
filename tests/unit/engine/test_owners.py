"""Lease owners: a dead process of this host is seen at once (gone, a zombie, or its pid
reused by another process); another host's owner is left to its lease."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from kiln.engine.owners import is_dead, new_owner, process_start


def test_this_process_is_alive_in_both_owner_forms() -> None:
    assert not is_dead(new_owner())
    assert not is_dead(f"{socket.gethostname()}:{os.getpid()}:a1b2c3d4")


def test_an_exited_and_reaped_process_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = new_owner(child.pid)
    child.wait()
    assert is_dead(owner)


def test_a_zombie_nobody_reaped_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = new_owner(child.pid)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f"/proc/{child.pid}/stat", encoding="utf-8") as handle:
                if handle.read().rpartition(")")[2].split()[0] == "Z":
                    break
            time.sleep(0.02)
        else:
            raise AssertionError("the child did not exit")
        assert is_dead(owner)
    finally:
        child.wait()


def test_a_pid_now_held_by_another_process_is_dead() -> None:
    start = process_start(os.getpid())
    assert start is not None
    earlier = f"{socket.gethostname()}:{os.getpid()}:{start - 1}:0badc0de"
    assert is_dead(earlier)


def test_another_hosts_owner_waits_for_its_lease_and_no_owner_is_dead() -> None:
    assert not is_dead("elsewhere.example:1:12345:0badc0de")
    assert is_dead(None) and is_dead("")
