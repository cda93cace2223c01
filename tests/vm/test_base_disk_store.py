"""The base disk store: flavors, versions, cache hits; what the built disk boots with."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kiln import process
from kiln.artifacts.debian import debian_release
from kiln.artifacts.vm_mount import chroot_mounts, mounted_root, raw_view
from kiln.artifacts.vmdisk import (
    INITRAMFS_MODULES,
    RECIPE,
    BaseDisk,
    BaseDiskSpec,
    ensure_base_disk,
    newest_base_disk,
    stage_preset,
)

STORAGE_DRIVERS = {"virtio_pci", "virtio_blk", "virtio_scsi", "ahci", "ata_piix", "sd_mod", "nvme"}


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


def test_a_disk_of_an_older_recipe_is_not_fit(tmp_path: Path) -> None:
    _fake_disk(tmp_path, f"1.{RECIPE - 1}.20261128", "base")
    assert newest_base_disk(tmp_path, BaseDiskSpec(debian_release("12"))) is None


def test_the_preset_asks_initramfs_tools_for_a_listed_set_of_drivers(tmp_path: Path) -> None:
    preset = stage_preset(tmp_path / "preset")
    conf = (preset / "etc/initramfs-tools/conf.d/kiln.conf").read_text().splitlines()
    assert "MODULES=list" in conf  # not Debian's generic MODULES=most
    assert "RESUME=none" in conf
    hook = preset / "etc/initramfs-tools/hooks/kiln"
    assert hook.stat().st_mode & 0o111
    (added,) = [line for line in hook.read_text().splitlines() if line.startswith("manual_add")]
    assert set(added.split()[1:]) == set(INITRAMFS_MODULES)
    assert STORAGE_DRIVERS | {"ext4"} <= set(INITRAMFS_MODULES)
    # initramfs-tools runs every hook with "prereqs" first to order them
    done = process.run(["sh", str(hook), "prereqs"], check=False)
    assert (done.returncode, done.text.strip()) == (0, "")


@pytest.mark.vm
@pytest.mark.slow
def test_the_built_disk_boots_with_a_small_initramfs_of_storage_drivers(
    agent_disk: BaseDisk, tmp_path: Path
) -> None:
    overlay = tmp_path / "look.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(agent_disk.path), "-F", "qcow2"]
    process.run([*argv, str(overlay)], timeout=60)
    with (
        raw_view(overlay, tmp_path / "look.raw") as raw,
        mounted_root(raw, tmp_path / "root") as root,
        chroot_mounts(root),
    ):
        (initrd,) = (root / "boot").glob("initrd.img-*")
        listing = process.run(
            ["chroot", str(root), "lsinitramfs", f"/boot/{initrd.name}"], timeout=300
        ).text
        size = initrd.stat().st_size
        conf_path = root / "etc/initramfs-tools/conf.d/kiln.conf"
        conf = conf_path.read_text() if conf_path.is_file() else ""
    modules = {Path(line).name.split(".ko")[0].replace("-", "_") for line in listing.splitlines()}
    assert STORAGE_DRIVERS | {"ext4", "jbd2", "crc32c_generic"} <= modules
    assert "e1000" not in modules and "usb_storage" not in modules  # MODULES=most has them
    assert size < 15 * 1024**2  # MODULES=most made 35 MB
    assert "MODULES=list" in conf
