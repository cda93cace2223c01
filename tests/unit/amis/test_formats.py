"""Disk formats in and out of Kiln with real qemu-img: round trips, OVAs, and refusals."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kiln import process
from kiln.amis.formats import (
    DiskFormat,
    DiskFormatError,
    UnsafeDiskError,
    boot_disk_file,
    export_disk,
    import_disk,
    inspect_disk,
    parse_format,
)
from tests.api.disk_files import require_qemu_img

MIB = 1024 * 1024
MARK = b"kiln-disk-marker\n"


@pytest.fixture(autouse=True)
def _qemu_img() -> None:
    require_qemu_img()


def _raw(path: Path, size: int = 4 * MIB) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
        handle.seek(MIB)
        handle.write(MARK)
    return path


def _convert(source: Path, dest: Path, driver: str, *options: str) -> Path:
    argv = ["qemu-img", "convert", "-f", "raw", "-O", driver, *options, str(source), str(dest)]
    process.run(argv)
    return dest


def _marker(qcow2: Path, tmp_path: Path) -> bytes:
    raw = tmp_path / "check.raw"
    process.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow2), str(raw)])
    with raw.open("rb") as handle:
        handle.seek(MIB)
        return handle.read(len(MARK))


def _info(path: Path) -> dict[str, object]:
    import json

    return json.loads(process.run(["qemu-img", "info", "--output=json", str(path)]).text)


SOURCES = {
    DiskFormat.RAW: ("raw",),
    DiskFormat.QCOW2: ("qcow2",),
    DiskFormat.VMDK: ("vmdk", "-o", "subformat=streamOptimized"),
    DiskFormat.VHD: ("vpc", "-o", "subformat=dynamic,force_size=on"),
    DiskFormat.VHDX: ("vhdx",),
}


@pytest.mark.parametrize("fmt", list(SOURCES))
def test_each_format_imports_to_compressed_qcow2_with_the_same_bytes(
    tmp_path: Path, fmt: DiskFormat
) -> None:
    source = _convert(_raw(tmp_path / "src.raw"), tmp_path / f"disk.{fmt}", *SOURCES[fmt])
    dest = tmp_path / "out" / "ami.qcow2"
    for declared in (fmt, None):
        info = import_disk(source, dest, declared=declared, work=tmp_path / "work")
        assert info.format is fmt
        assert info.virtual_size == 4 * MIB
        assert _info(dest)["format"] == "qcow2"
        assert "backing-filename" not in _info(dest)
        assert _marker(dest, tmp_path) == MARK
    assert not list(dest.parent.glob(".*partial"))


def test_a_fixed_vhd_is_recognised_by_its_footer(tmp_path: Path) -> None:
    source = _raw(tmp_path / "src.raw")
    vhd = _convert(source, tmp_path / "fixed.vhd", "vpc", "-o", "subformat=fixed")
    assert _info(vhd)["format"] == "raw"  # qemu's probe alone takes it for raw
    assert inspect_disk(vhd).format is DiskFormat.VHD
    dest = tmp_path / "ami.qcow2"
    import_disk(vhd, dest, declared=DiskFormat.VHD, work=tmp_path / "w")
    assert _marker(dest, tmp_path) == MARK


@pytest.mark.parametrize("fmt", [DiskFormat.RAW, DiskFormat.QCOW2, DiskFormat.VMDK, DiskFormat.VHD])
def test_export_round_trip(tmp_path: Path, fmt: DiskFormat) -> None:
    ami = tmp_path / "ami.qcow2"
    import_disk(_raw(tmp_path / "src.raw"), ami, declared=DiskFormat.RAW, work=tmp_path / "w")
    exported = tmp_path / f"export.{fmt}"
    export_disk(ami, exported, fmt)
    assert inspect_disk(exported).format is fmt
    if fmt is DiskFormat.VMDK:
        specific = _info(exported)["format-specific"]
        assert specific["data"]["create-type"] == "streamOptimized"  # type: ignore[index]
        process.run(["qemu-img", "check", str(exported)])
    back = tmp_path / "back.qcow2"
    import_disk(exported, back, declared=fmt, work=tmp_path / "w2")
    assert _marker(back, tmp_path) == MARK
    assert inspect_disk(back).virtual_size == 4 * MIB


def test_export_refuses_formats_it_does_not_write(tmp_path: Path) -> None:
    ami = tmp_path / "ami.qcow2"
    import_disk(_raw(tmp_path / "src.raw"), ami, declared=None, work=tmp_path / "w")
    with pytest.raises(DiskFormatError, match="exports"):
        export_disk(ami, tmp_path / "x.ova", DiskFormat.OVA)


def test_a_qcow2_with_a_backing_file_on_the_host_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.raw"
    secret.write_bytes(b"root:$6$secret\n" * 100)
    evil = tmp_path / "evil.qcow2"
    process.run(["qemu-img", "create", "-f", "qcow2", "-b", str(secret), "-F", "raw", str(evil)])
    dest = tmp_path / "ami.qcow2"
    for declared in (DiskFormat.QCOW2, None):
        with pytest.raises(UnsafeDiskError, match="backing file"):
            import_disk(evil, dest, declared=declared, work=tmp_path / "w")
    assert not dest.exists()


def test_a_qcow2_declared_raw_is_refused(tmp_path: Path) -> None:
    disk = _convert(_raw(tmp_path / "src.raw"), tmp_path / "disk.qcow2", "qcow2")
    with pytest.raises(DiskFormatError, match="declared RAW but is a QCOW2"):
        import_disk(disk, tmp_path / "ami.qcow2", declared=DiskFormat.RAW, work=tmp_path / "w")


def test_a_qcow2_with_an_external_data_file_is_refused(tmp_path: Path) -> None:
    disk = tmp_path / "data.qcow2"
    process.run(
        [
            "qemu-img", "create", "-f", "qcow2",
            "-o", f"data_file={tmp_path / 'data.raw'}", str(disk), "1M",
        ]
    )  # fmt: skip
    with pytest.raises(UnsafeDiskError, match="external file"):
        inspect_disk(disk)


def test_a_vmdk_descriptor_with_a_host_file_extent_is_refused(tmp_path: Path) -> None:
    descriptor = tmp_path / "evil.vmdk"
    descriptor.write_text(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        'createType="monolithicFlat"\n\n'
        'RW 8 FLAT "/etc/hostname" 0\n\n'
        'ddb.virtualHWVersion = "4"\n'
    )
    with pytest.raises(UnsafeDiskError, match="extents in other files"):
        import_disk(descriptor, tmp_path / "a.qcow2", declared=DiskFormat.VMDK, work=tmp_path)


def _ova(path: Path, members: list[tuple[str, bytes]], *, link: str | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/shadow"
            tar.addfile(info)
    return path


def _ovf(*files: tuple[str, str], boot: str) -> bytes:
    refs = "".join(f'<File ovf:id="{fid}" ovf:href="{href}"/>' for fid, href in files)
    disks = "".join(f'<Disk ovf:diskId="d-{fid}" ovf:fileRef="{fid}"/>' for fid, _ in files)
    return (
        '<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" '
        'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" '
        'xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">'
        f"<References>{refs}</References><DiskSection>{disks}</DiskSection>"
        "<VirtualSystem><VirtualHardwareSection><Item><rasd:ResourceType>10</rasd:ResourceType>"
        "</Item><Item><rasd:HostResource>ovf:/disk/"
        f"d-{boot}</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>"
        "</VirtualHardwareSection></VirtualSystem></Envelope>"
    ).encode()


def test_an_ova_imports_the_boot_disk_its_ovf_names(tmp_path: Path) -> None:
    boot = _convert(_raw(tmp_path / "boot.raw"), tmp_path / "b.vmdk", *SOURCES[DiskFormat.VMDK])
    other = _convert(_raw(tmp_path / "o.raw", 2 * MIB), tmp_path / "o.vmdk", "vmdk")
    ovf = _ovf(("f1", "data.vmdk"), ("f2", "boot.vmdk"), boot="f2")
    assert boot_disk_file(ovf) == "boot.vmdk"
    ova = _ova(
        tmp_path / "vm.ova",
        [("vm.ovf", ovf), ("data.vmdk", other.read_bytes()), ("boot.vmdk", boot.read_bytes())],
    )
    dest = tmp_path / "ami.qcow2"
    for declared in (DiskFormat.OVA, None):
        info = import_disk(ova, dest, declared=declared, work=tmp_path / "w")
        assert (info.format, info.virtual_size) == (DiskFormat.VMDK, 4 * MIB)
        assert _marker(dest, tmp_path) == MARK
    assert parse_format("ova") is DiskFormat.OVA


def test_an_ova_without_drive_items_takes_its_first_disk(tmp_path: Path) -> None:
    ovf = b'<Envelope><References><File id="a" href="one.vmdk"/></References></Envelope>'
    assert boot_disk_file(ovf) is None
    disk = _convert(_raw(tmp_path / "r.raw"), tmp_path / "one.vmdk", "vmdk")
    ova = _ova(tmp_path / "vm.ova", [("x.ovf", ovf), ("one.vmdk", disk.read_bytes())])
    info = import_disk(ova, tmp_path / "ami.qcow2", declared=DiskFormat.OVA, work=tmp_path / "w")
    assert info.format is DiskFormat.VMDK


@pytest.mark.parametrize("name", ["../../evil.vmdk", "/etc/cron.d/evil", "a/../../b"])
def test_an_ova_with_a_traversal_name_is_refused(tmp_path: Path, name: str) -> None:
    ovf = _ovf(("f1", "disk.vmdk"), boot="f1")
    ova = _ova(tmp_path / "vm.ova", [("vm.ovf", ovf), ("disk.vmdk", b"x"), (name, b"evil")])
    with pytest.raises(UnsafeDiskError, match="leaves the archive"):
        import_disk(ova, tmp_path / "ami.qcow2", declared=DiskFormat.OVA, work=tmp_path / "w")
    assert not (tmp_path / "evil.vmdk").exists()


def test_an_ova_with_a_link_or_an_escaping_href_is_refused(tmp_path: Path) -> None:
    ovf = _ovf(("f1", "disk.vmdk"), boot="f1")
    ova = _ova(tmp_path / "l.ova", [("vm.ovf", ovf)], link="disk.vmdk")
    with pytest.raises(UnsafeDiskError, match="link or device"):
        import_disk(ova, tmp_path / "a.qcow2", declared=DiskFormat.OVA, work=tmp_path / "w")
    ovf = _ovf(("f1", "../../etc/shadow"), boot="f1")
    ova = _ova(tmp_path / "h.ova", [("vm.ovf", ovf)])
    with pytest.raises(UnsafeDiskError, match="outside the archive"):
        import_disk(ova, tmp_path / "a.qcow2", declared=DiskFormat.OVA, work=tmp_path / "w")


def test_an_ovf_with_entities_is_refused() -> None:
    ovf = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Envelope>&a;</Envelope>'
    with pytest.raises(UnsafeDiskError, match="DTD"):
        boot_disk_file(ovf)


def test_unknown_formats_are_named() -> None:
    with pytest.raises(DiskFormatError, match="RAW, QCOW2, VMDK, VHD, VHDX, OVA"):
        parse_format("iso")
    assert parse_format("VPC") is DiskFormat.VHD
    assert parse_format(" Vmdk ") is DiskFormat.VMDK


def test_a_file_that_is_no_disk_kiln_takes_is_refused(tmp_path: Path) -> None:
    vdi = _convert(_raw(tmp_path / "r.raw"), tmp_path / "d.vdi", "vdi")
    with pytest.raises(DiskFormatError, match="'vdi' disk"):
        inspect_disk(vdi)
