"""Kiln's managed Debian VM base disks (the parents of `aws:image/debian-12-x86/x.x.x`).

`ensure_base_disk(store, "12")` answers a bootable compressed qcow2, building it on first use:

1. mmdebstrap the release from the host's mirror into a directory, with a kernel, systemd, udev,
   DHCP on every wired NIC (systemd-networkd + resolved), GRUB for BIOS and, on request,
   qemu-guest-agent and openssh-server; initramfs-tools is configured before the kernel is
   installed, so the one initramfs built holds only the storage drivers of common hypervisors
   (INITRAMFS_MODULES) instead of Debian's generic MODULES=most (7.5 MB instead of 35 MB, which
   GRUB read through the BIOS and the kernel unpacked on every boot: slow under TCG);
2. configure it: hostname, fstab and kernel command line by filesystem label, serial console;
3. a sparse raw disk with an MBR and one ext4 partition filled by `mkfs.ext4 -d` (no copying
   through a mount); BIOS GRUB written without a loop device: the guest's own `grub-mkimage`
   makes core.img (its embedded config finds the root by label), which goes right after the MBR;
4. `qemu-img convert -c` to a compressed qcow2, plus the kernel beside it (the KVM probe boots it).

Disks are versioned `1.<RECIPE>.<YYYYMMDD>` and stored as
`<store>/debian-12-x86/<version>/<flavor>.qcow2`; a file lock makes concurrent callers build once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kiln import process
from kiln.artifacts.apt_sources import DebianMirror
from kiln.artifacts.debian import DebianRelease, debian_release
from kiln.core.errors import BuildError

logger = logging.getLogger(__name__)

RECIPE = 2  # bump when the disk's contents change (2: targeted initramfs)
ROOT_LABEL = "kiln-root"
HOSTNAME = "kiln"
DISK_SIZE_GIB = 4
PARTITION_OFFSET = 1024 * 1024
BOOTSTRAP_TIMEOUT = 1800.0
STEP_TIMEOUT = 600.0
MBR_CODE_SIZE = 440  # then the disk signature and the partition table
GRUB_CORE_MODULES = ("biosdisk", "part_msdos", "ext2", "search", "search_label", "normal", "serial")
KERNEL_CMDLINE = f"root=LABEL={ROOT_LABEL} ro console=tty0 console=ttyS0,115200n8"

INITRAMFS_MODULES = (
    # what finds and mounts the root filesystem on common hypervisors booting by BIOS; modprobe
    # adds each one's dependencies (virtio, virtio_ring, scsi_mod, libata, jbd2, hv_vmbus...)
    "virtio_pci",  # QEMU/KVM, Proxmox, most clouds
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",  # SCSI, SATA and SAS disks
    "ahci",  # SATA (QEMU q35, VirtualBox, VMware)
    "ata_piix",  # IDE (QEMU pc, Hyper-V generation 1, Xen HVM)
    "ata_generic",
    "nvme",  # EC2 Nitro, newer VMware
    "xen_blkfront",  # Xen PV disks (older EC2)
    "hv_storvsc",  # Hyper-V SCSI
    "vmw_pvscsi",  # VMware paravirtual SCSI
    "mptspi",  # VMware LSI Logic
    "ext4",
    "crc32c_generic",  # ext4's metadata checksums (a crypto soft dependency, not a modprobe one)
    "crc32c_intel",
)
INITRAMFS_CONF = """\
# Kiln: a small initramfs with the storage drivers of common hypervisors (see hooks/kiln), not
# Debian's MODULES=most; kept on kernel upgrades. Add drivers to /etc/initramfs-tools/modules.
MODULES=list
COMPRESS={compress}
RESUME=none
"""
INITRAMFS_COMPRESS = "gzip"  # zstd and lz4 unpack no faster under TCG at this size (bench/)
INITRAMFS_HOOK = """\
#!/bin/sh
# Kiln: the storage drivers of common hypervisors, loaded by udev when their hardware is there.
PREREQ=""
prereqs() {{ echo "$PREREQ"; }}
case "$1" in
prereqs) prereqs; exit 0 ;;
esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules {modules}
"""

BASE_PACKAGES = (
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "kmod",
    "iproute2",
    "systemd-resolved",
    "grub-pc-bin",
    "grub2-common",
    "ca-certificates",
    "e2fsprogs",
    "procps",
)
AGENT_PACKAGE = "qemu-guest-agent"
SSH_PACKAGE = "openssh-server"

NETWORK_UNIT = """\
[Match]
Name=en* eth*

[Network]
DHCP=yes
"""

GRUB_DEFAULTS = """\
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Kiln
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
"""

GRUB_CFG = f"""\
set default=0
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
insmod part_msdos
insmod ext2
search --no-floppy --label --set=root {ROOT_LABEL}
menuentry "Debian GNU/Linux (Kiln)" {{
    linux /vmlinuz {KERNEL_CMDLINE}
    initrd /initrd.img
}}
"""


class BaseDiskError(BuildError):
    """The base disk could not be bootstrapped, assembled or converted."""


@dataclass(frozen=True)
class BaseDiskSpec:
    """What goes into a base disk. The flavor names the optional extras."""

    release: DebianRelease
    guest_agent: bool = False
    ssh: bool = False
    size_gib: int = DISK_SIZE_GIB

    @property
    def flavor(self) -> str:
        extras = [n for n, on in (("agent", self.guest_agent), ("ssh", self.ssh)) if on]
        return "-".join(["base", *extras])

    @property
    def packages(self) -> tuple[str, ...]:
        extras = (AGENT_PACKAGE,) * self.guest_agent + (SSH_PACKAGE,) * self.ssh
        return BASE_PACKAGES + extras


@dataclass(frozen=True)
class BaseDisk:
    spec: BaseDiskSpec
    version: str  # semantic version, 1.<recipe>.<YYYYMMDD>
    path: Path  # compressed qcow2
    kernel: Path  # the disk's kernel, for the KVM probe

    @property
    def name(self) -> str:
        return f"debian-{self.spec.release.version}-x86"


def ensure_base_disk(
    store: Path,
    release_name: str = "12",
    *,
    guest_agent: bool = False,
    ssh: bool = False,
    mirror: DebianMirror | None = None,
    max_age: dt.timedelta | None = None,
    today: dt.date | None = None,
) -> BaseDisk:
    """The newest base disk of the release and flavor in store, building one if none is fit."""
    spec = BaseDiskSpec(debian_release(release_name), guest_agent=guest_agent, ssh=ssh)
    today = today or dt.datetime.now(dt.UTC).date()
    with _locked(store / "locks" / f"debian-{spec.release.version}-{spec.flavor}.lock"):
        current = newest_base_disk(store, spec)
        if current is not None and not _too_old(current, today, max_age):
            return current
        version = f"1.{RECIPE}.{today:%Y%m%d}"
        folder = store / f"debian-{spec.release.version}-x86" / version
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f"{spec.flavor}.qcow2"
        with tempfile.TemporaryDirectory(dir=store, prefix="build-") as tmp:
            build_base_disk(mirror or DebianMirror.from_host(), spec, dest=dest, work=Path(tmp))
        return BaseDisk(spec, version, dest, _kernel_path(dest))


def newest_base_disk(store: Path, spec: BaseDiskSpec) -> BaseDisk | None:
    folder = store / f"debian-{spec.release.version}-x86"
    found: list[tuple[tuple[int, ...], BaseDisk]] = []
    for path in folder.glob(f"*/{spec.flavor}.qcow2"):
        version = path.parent.name
        if not _kernel_path(path).is_file() or not path.with_suffix(".json").is_file():
            continue  # an interrupted build
        try:
            key = tuple(int(p) for p in version.split("."))
        except ValueError:
            continue
        if key[:2] == (1, RECIPE):
            found.append((key, BaseDisk(spec, version, path, _kernel_path(path))))
    return max(found, key=lambda item: item[0])[1] if found else None


def _too_old(disk: BaseDisk, today: dt.date, max_age: dt.timedelta | None) -> bool:
    if max_age is None:
        return False
    stamp = disk.version.rsplit(".", 1)[1]
    built = dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
    return today - built > max_age


def _kernel_path(disk: Path) -> Path:
    return disk.with_suffix(".vmlinuz")


def build_base_disk(mirror: DebianMirror, spec: BaseDiskSpec, *, dest: Path, work: Path) -> Path:
    """Bootstrap, configure, assemble and convert; the qcow2 appears at dest only when done."""
    timings: dict[str, float] = {}
    rootfs = work / "rootfs"
    raw = work / "disk.raw"
    with _timed(timings, "bootstrap"):
        bootstrap_rootfs(mirror, spec, rootfs, preset=stage_preset(work / "preset"))
    with _timed(timings, "configure"):
        configure_rootfs(rootfs)
        shutil.copyfile(rootfs / "vmlinuz", work / "vmlinuz")
        core = prepare_grub(rootfs, work)
        shutil.copyfile(rootfs / "usr/lib/grub/i386-pc/boot.img", work / "boot.img")
    with _timed(timings, "assemble"):
        assemble_raw_disk(rootfs, raw, size_gib=spec.size_gib)
        install_grub(raw, boot_img=work / "boot.img", core_img=core)
        shutil.rmtree(rootfs)
    with _timed(timings, "convert"):
        partial = dest.with_suffix(".partial")
        _step(
            ["qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(partial)],
            what="qemu-img convert",
        )
    shutil.copyfile(work / "vmlinuz", _kernel_path(dest))
    manifest = {"packages": list(spec.packages), "timings": timings, "label": ROOT_LABEL}
    dest.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(partial, dest)
    logger.info("base disk %s built: %s", dest, timings)
    return dest


def stage_preset(folder: Path) -> Path:
    """Files laid into the root before any package is installed: initramfs-tools' config."""
    conf = folder / "etc/initramfs-tools/conf.d/kiln.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(INITRAMFS_CONF.format(compress=INITRAMFS_COMPRESS))
    hook = folder / "etc/initramfs-tools/hooks/kiln"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(INITRAMFS_HOOK.format(modules=" ".join(INITRAMFS_MODULES)))
    hook.chmod(0o755)
    return folder


def bootstrap_rootfs(
    mirror: DebianMirror, spec: BaseDiskSpec, rootfs: Path, *, preset: Path | None = None
) -> None:
    """mmdebstrap into rootfs; `preset`'s tree is copied in before the first package unpacks."""
    hooks = [] if preset is None else [f"--setup-hook=sync-in {shlex.quote(str(preset))} /"]
    argv = [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        "--quiet",
        "--include=" + ",".join(spec.packages),
        "--aptopt=Acquire::Retries 3",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        *hooks,
        spec.release.codename,
        str(rootfs),
        *mirror.source_lines(spec.release.codename),
    ]
    _step(argv, what=f"mmdebstrap of Debian {spec.release.codename}", timeout=BOOTSTRAP_TIMEOUT)


def configure_rootfs(rootfs: Path) -> None:
    """Hostname, fstab, DHCP, serial console GRUB config; no machine id, no root password."""
    etc = rootfs / "etc"
    (etc / "hostname").write_text(HOSTNAME + "\n")
    (etc / "hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n")
    (etc / "fstab").write_text(f"LABEL={ROOT_LABEL}\t/\text4\terrors=remount-ro\t0\t1\n")
    (etc / "machine-id").write_text("")
    network = etc / "systemd/network"
    network.mkdir(parents=True, exist_ok=True)
    (network / "80-kiln-dhcp.network").write_text(NETWORK_UNIT)
    resolv = etc / "resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")
    _enable_units(rootfs, "systemd-networkd.service", "systemd-resolved.service")
    (etc / "default/grub").write_text(GRUB_DEFAULTS)
    grub = rootfs / "boot/grub"
    grub.mkdir(parents=True, exist_ok=True)
    (grub / "grub.cfg").write_text(GRUB_CFG)
    _link_kernel(rootfs)


def _enable_units(rootfs: Path, *units: str) -> None:
    _step(["chroot", str(rootfs), "systemctl", "enable", *units], what="systemctl enable")


def _link_kernel(rootfs: Path) -> None:
    """/vmlinuz and /initrd.img, as Debian's kernel hooks make them (GRUB boots through them)."""
    for link, pattern in (("vmlinuz", "vmlinuz-*"), ("initrd.img", "initrd.img-*")):
        path = rootfs / link
        if path.exists():
            continue
        candidates = sorted((rootfs / "boot").glob(pattern))
        if not candidates:
            raise BaseDiskError(f"the bootstrapped root has no /boot/{pattern}")
        path.unlink(missing_ok=True)
        path.symlink_to(f"boot/{candidates[-1].name}")


def assemble_raw_disk(rootfs: Path, raw: Path, *, size_gib: int) -> None:
    """A sparse raw disk: MBR, one bootable Linux partition holding an ext4 made from rootfs."""
    size = size_gib * 1024**3
    with raw.open("wb") as fh:
        fh.truncate(size)
    table = f"label: dos\nstart={PARTITION_OFFSET // 512}, type=83, bootable\n"
    try:
        process.run(["sfdisk", "--quiet", str(raw)], input=table.encode(), timeout=STEP_TIMEOUT)
    except process.CommandError as exc:
        raise BaseDiskError(f"sfdisk failed: {exc}") from exc
    part_kib = (size - PARTITION_OFFSET) // 1024
    argv = [
        "mkfs.ext4",
        "-q",
        "-F",
        "-L",
        ROOT_LABEL,
        "-d",
        str(rootfs),
        "-E",
        f"offset={PARTITION_OFFSET},nodiscard",
        str(raw),
        f"{part_kib}k",
    ]
    _step(argv, what="mkfs.ext4")


def prepare_grub(rootfs: Path, work: Path) -> Path:
    """GRUB's modules into /boot/grub, and a core.img built by the guest's own grub-mkimage.

    The core image's embedded config finds the root filesystem by label, so it keeps working
    whatever the disk is called in the VM that boots it.
    """
    modules = rootfs / "usr/lib/grub/i386-pc"
    if not (modules / "boot.img").is_file():
        raise BaseDiskError("the bootstrapped root has no GRUB for BIOS (grub-pc-bin)")
    shutil.copytree(modules, rootfs / "boot/grub/i386-pc", dirs_exist_ok=True)
    early = rootfs / "tmp/kiln-grub-early.cfg"
    early.write_text(
        f"search --no-floppy --label --set=root {ROOT_LABEL}\nset prefix=($root)/boot/grub\n"
    )
    argv = [
        "chroot",
        str(rootfs),
        "grub-mkimage",
        "--format=i386-pc",
        "--output=/tmp/kiln-core.img",
        "--config=/tmp/kiln-grub-early.cfg",
        "--prefix=/boot/grub",
        *GRUB_CORE_MODULES,
    ]
    _step(argv, what="grub-mkimage")
    core = work / "core.img"
    shutil.move(rootfs / "tmp/kiln-core.img", core)
    early.unlink()
    return core


def install_grub(raw: Path, *, boot_img: Path, core_img: Path) -> None:
    """BIOS GRUB without a loop device: boot.img's code into the MBR, core.img right after it.

    grub-mkimage already points core.img's first sector at the rest of it (sector 2 onwards)
    and boot.img at sector 1, so no blocklist needs patching; the partition table stays.
    """
    boot = boot_img.read_bytes()
    core = core_img.read_bytes()
    if len(boot) != 512 or len(core) > PARTITION_OFFSET - 512:
        raise BaseDiskError(f"unexpected GRUB images: boot {len(boot)} B, core {len(core)} B")
    with raw.open("r+b") as fh:
        fh.seek(0)
        fh.write(boot[:MBR_CODE_SIZE])
        fh.seek(512)
        fh.write(core)


def _step(argv: list[str], *, what: str, timeout: float = STEP_TIMEOUT) -> None:
    try:
        process.run(argv, timeout=timeout)
    except process.CommandError as exc:
        raise BaseDiskError(f"{what} failed: {exc}") from exc


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = round(time.monotonic() - started, 1)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
