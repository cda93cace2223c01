"""VM disk files in and out of Kiln: raw, qcow2, vmdk, vhd (qemu's `vpc`), vhdx and OVA.

Import (`import_disk`) turns a user's file into Kiln's own disk: a standalone compressed qcow2
(`qemu-img convert -c`). A user's file is untrusted, so before qemu converts it:

- its format is probed (`qemu-img info --output=json`, which never opens backing files) and must
  be one Kiln takes; a declared format must be what the file is (a "raw" file that is really a
  qcow2 is refused: that is how a crafted header smuggles a backing file in);
- a backing file, an external data file, encryption, or a vmdk whose extents are other files (a
  descriptor naming `/etc/shadow` as a FLAT extent) is refused: qemu would read host files;
- an OVA is a tar: its `.ovf` (size-capped, no DTD) names the disks; the boot disk (the first
  disk drive of the virtual hardware, else the first disk, else the first disk-like member) is
  copied out of the tar by Kiln itself, never extracted by name. An OVA with a member that is
  not a plain relative file (absolute, `..`, links, devices) is refused as a whole.

Export (`export_disk`) writes an AMI's disk as raw, qcow2 (compressed), vmdk (streamOptimized,
as AWS exports it) or vhd (dynamic, `force_size` so the virtual size stays exact).

Errors: DiskFormatError (the file is unusable; the message is safe to show the user),
UnsafeDiskError (it would make qemu touch host files), DiskConversionError (qemu failed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from kiln import process
from kiln.core.errors import KilnError

INFO_TIMEOUT = 60.0
CONVERT_TIMEOUT = 3600.0
OVF_LIMIT = 1024 * 1024
VHD_COOKIE = b"conectix"
COPY_CHUNK = 1024 * 1024


class DiskFormat(StrEnum):
    RAW = "raw"
    QCOW2 = "qcow2"
    VMDK = "vmdk"
    VHD = "vhd"
    VHDX = "vhdx"
    OVA = "ova"


# Kiln's names → qemu's driver names (VHD is qemu's "vpc").
QEMU_DRIVER = {
    DiskFormat.RAW: "raw",
    DiskFormat.QCOW2: "qcow2",
    DiskFormat.VMDK: "vmdk",
    DiskFormat.VHD: "vpc",
    DiskFormat.VHDX: "vhdx",
}
_FROM_DRIVER = {driver: fmt for fmt, driver in QEMU_DRIVER.items()}
EXPORT_FORMATS = (DiskFormat.RAW, DiskFormat.QCOW2, DiskFormat.VMDK, DiskFormat.VHD)
EXPORT_OPTIONS = {
    DiskFormat.RAW: [],
    DiskFormat.QCOW2: ["-c"],
    DiskFormat.VMDK: ["-o", "subformat=streamOptimized"],
    DiskFormat.VHD: ["-o", "subformat=dynamic,force_size=on"],
}
SINGLE_FILE_VMDK = frozenset({"monolithicSparse", "streamOptimized"})
DISK_SUFFIXES = (".vmdk", ".vhd", ".vhdx", ".img", ".raw", ".qcow2")
OVF_DISK_DRIVE = "17"  # CIM ResourceType of a disk drive


class DiskFormatError(KilnError):
    """A disk file is not one Kiln can take, or is not what it claims to be."""


class UnsafeDiskError(DiskFormatError):
    """A disk file names other files (backing, data file, extents): qemu would read the host."""


class DiskConversionError(KilnError):
    """qemu-img failed on a file that passed the checks."""


@dataclass(frozen=True)
class DiskInfo:
    format: DiskFormat
    virtual_size: int
    actual_size: int


def parse_format(text: str) -> DiskFormat:
    """A format as users write it (RAW, VHD, vpc, qcow2, ...), case-insensitive."""
    name = text.strip().lower()
    if name == "vpc":
        return DiskFormat.VHD
    try:
        return DiskFormat(name)
    except ValueError:
        known = ", ".join(f.value.upper() for f in DiskFormat)
        raise DiskFormatError(f"'{text}' is not a disk format Kiln imports ({known})") from None


# -- inspection -------------------------------------------------------------------------------


def inspect_disk(path: Path, declared: DiskFormat | None = None) -> DiskInfo:
    """What the file is; refused when it is unsafe or not the declared format."""
    path = path.resolve()
    data = _qemu_info(path)
    driver = str(data.get("format", ""))
    if driver == "raw" and _has_vhd_footer(path):
        driver = "vpc"  # a fixed VHD: only a footer, which qemu's probe does not look for
        data = _qemu_info(path, driver="vpc")
    fmt = _FROM_DRIVER.get(driver)
    if fmt is None:
        raise DiskFormatError(f"the file is a '{driver}' disk; Kiln imports {_import_names()}")
    if declared is not None and declared is not DiskFormat.OVA and declared is not fmt:
        raise DiskFormatError(
            f"the file was declared {declared.value.upper()} but is a {fmt.value.upper()} disk"
        )
    _refuse_references(path, fmt, data)
    return DiskInfo(fmt, int(data.get("virtual-size", 0)), int(data.get("actual-size", 0)))


def _import_names() -> str:
    return ", ".join(f.value.upper() for f in DiskFormat)


def _qemu_info(path: Path, *, driver: str | None = None) -> dict[str, Any]:
    argv = ["qemu-img", "info", "--output=json"]
    if driver is not None:
        argv += ["-f", driver]
    try:
        done = process.run([*argv, str(path)], timeout=INFO_TIMEOUT)
        data = json.loads(done.text)
    except process.CommandError as exc:
        raise DiskFormatError(f"the file is not a disk image qemu can read: {exc.output}") from exc
    except ValueError as exc:
        raise DiskConversionError(f"qemu-img info said something else than JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DiskConversionError("qemu-img info did not describe one image")
    return data


def _has_vhd_footer(path: Path) -> bool:
    size = path.stat().st_size
    if size < 512:
        return False
    with path.open("rb") as handle:
        handle.seek(size - 512)
        return handle.read(len(VHD_COOKIE)) == VHD_COOKIE


def _refuse_references(path: Path, fmt: DiskFormat, data: dict[str, Any]) -> None:
    if data.get("backing-filename") or data.get("full-backing-filename"):
        raise UnsafeDiskError(
            f"the {fmt.value} disk names a backing file ({data.get('backing-filename')}); "
            "Kiln imports standalone disks only: flatten it first (qemu-img convert)"
        )
    if data.get("encrypted"):
        raise DiskFormatError("the disk is encrypted; import an unencrypted disk")
    specific = (data.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file"):
        raise UnsafeDiskError(
            f"the qcow2 disk keeps its data in an external file ({specific['data-file']}); "
            "Kiln imports self-contained disks only"
        )
    if fmt is DiskFormat.VMDK:
        kind = specific.get("create-type")
        extents = specific.get("extents") or []
        own = {path.name, str(path)}
        if kind not in SINGLE_FILE_VMDK or any(e.get("filename") not in own for e in extents):
            raise UnsafeDiskError(
                f"the vmdk is of type '{kind}' with extents in other files; Kiln imports "
                "single-file vmdks (monolithicSparse, streamOptimized)"
            )


# -- OVA --------------------------------------------------------------------------------------


def is_ova(path: Path) -> bool:
    if not tarfile.is_tarfile(path):
        return False
    with tarfile.open(path) as tar:
        return any(m.name.lower().endswith(".ovf") for m in tar.getmembers())


def extract_ova_disk(ova: Path, work: Path) -> Path:
    """Copy the OVA's boot disk out of the tar into `work`; returns the copy."""
    try:
        with tarfile.open(ova) as tar:
            return _copy_boot_disk(tar, work)
    except tarfile.TarError as exc:
        raise DiskFormatError(f"the OVA is not a readable tar archive: {exc}") from exc


def _copy_boot_disk(tar: tarfile.TarFile, work: Path) -> Path:
    members = tar.getmembers()
    for member in members:
        _check_member(member)
    files = {m.name.removeprefix("./"): m for m in members if m.isfile()}
    ovfs = [name for name in files if name.lower().endswith(".ovf")]
    if len(ovfs) != 1:
        raise DiskFormatError(f"an OVA holds one .ovf descriptor; this one holds {len(ovfs)}")
    descriptor = _read_member(tar, files[ovfs[0]], limit=OVF_LIMIT)
    wanted = boot_disk_file(descriptor) or _first_disk_member(files)
    if wanted is None or wanted not in files:
        raise DiskFormatError(f"the OVA's descriptor names no disk it holds ({wanted})")
    work.mkdir(parents=True, exist_ok=True)
    target = work / "ova-disk"
    source = tar.extractfile(files[wanted])
    if source is None:
        raise DiskFormatError(f"the OVA member {wanted} is not a file")
    with source, target.open("wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)
    return target


def _check_member(member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or "\\" in member.name:
        raise UnsafeDiskError(f"the OVA member '{member.name}' leaves the archive's folder")
    if not (member.isfile() or member.isdir()):
        raise UnsafeDiskError(f"the OVA member '{member.name}' is a link or device, not a file")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, *, limit: int) -> bytes:
    if member.size > limit:
        raise DiskFormatError(f"the OVF descriptor is larger than {limit} bytes")
    handle = tar.extractfile(member)
    if handle is None:
        raise DiskFormatError("the OVF descriptor is not a file")
    with handle:
        return handle.read(limit)


def _first_disk_member(files: dict[str, tarfile.TarInfo]) -> str | None:
    for name in files:
        if name.lower().endswith(DISK_SUFFIXES):
            return name
    return None


def boot_disk_file(descriptor: bytes) -> str | None:
    """The file name of the boot disk an OVF descriptor names (None when it names none)."""
    if re.search(rb"<!(DOCTYPE|ENTITY)", descriptor):
        raise UnsafeDiskError("the OVF descriptor declares a DTD or entities; Kiln refuses them")
    try:
        root = ElementTree.fromstring(descriptor)
    except ElementTree.ParseError as exc:
        raise DiskFormatError(f"the OVF descriptor is not XML: {exc}") from exc
    files = {_attr(e, "id"): _attr(e, "href") for e in root.iter() if _local(e.tag) == "File"}
    disks = {
        _attr(e, "diskId"): _attr(e, "fileRef") for e in root.iter() if _local(e.tag) == "Disk"
    }
    order = [*_drive_disks(root), *disks]
    for disk_id in order:
        href = files.get(disks.get(disk_id))
        if href:
            return _plain_name(href)
    return None


def _drive_disks(root: ElementTree.Element) -> list[str]:
    """Disk ids of the virtual hardware's disk drives (ResourceType 17), in document order."""
    found = []
    for item in root.iter():
        if _local(item.tag) not in ("Item", "StorageItem"):
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in item}
        if fields.get("ResourceType") == OVF_DISK_DRIVE:
            for resource in (fields.get("HostResource") or "").split():
                found.append(resource.rsplit("/", 1)[-1])
    return found


def _plain_name(href: str) -> str:
    name = PurePosixPath(href)
    if name.is_absolute() or ".." in name.parts or "://" in href:
        raise UnsafeDiskError(f"the OVF names the disk file '{href}' outside the archive")
    return str(name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attr(element: ElementTree.Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


# -- conversion -------------------------------------------------------------------------------


def import_disk(source: Path, dest: Path, *, declared: DiskFormat | None, work: Path) -> DiskInfo:
    """Check `source` and write it to `dest` as Kiln's compressed qcow2 (atomically)."""
    source = source.resolve()
    if declared is DiskFormat.OVA or (declared is None and is_ova(source)):
        source = extract_ova_disk(source, work)
        declared = None  # the OVF's format URL is informative; the bytes decide
    info = inspect_disk(source, declared)
    _convert(source, QEMU_DRIVER[info.format], dest, ["-O", "qcow2", "-c"])
    return info


def export_disk(source: Path, dest: Path, fmt: DiskFormat) -> None:
    """Write Kiln's qcow2 `source` to `dest` in `fmt` (atomically)."""
    if fmt not in EXPORT_FORMATS:
        names = ", ".join(f.value for f in EXPORT_FORMATS)
        raise DiskFormatError(f"Kiln exports {names}, not {fmt.value}")
    driver = QEMU_DRIVER[fmt]
    _convert(source.resolve(), "qcow2", dest, ["-O", driver, *EXPORT_OPTIONS[fmt]])


def _convert(source: Path, driver: str, dest: Path, options: list[str]) -> None:
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    argv = ["qemu-img", "convert", "-f", driver, *options, str(source), str(partial)]
    try:
        process.run(argv, timeout=CONVERT_TIMEOUT)
    except process.CommandError as exc:
        partial.unlink(missing_ok=True)
        raise DiskConversionError(f"qemu-img convert failed: {exc}") from exc
    os.replace(partial, dest)
