"""Reading a file out of a .deb without installing it: the ar archive, its data.tar member
(gz, xz, bz2 or plain through Python's tarfile; zstd through `dpkg-deb --fsys-tarfile`), and
the package's Debian changelog inside."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from kiln.core.errors import KilnError
from kiln.process import CommandError, run

AR_MAGIC = b"!<arch>\n"
MAX_CHANGELOG = 64 * 1024 * 1024
"""A decompressed changelog larger than this is refused (Linux's is about 10 MiB)."""


class DebFormatError(KilnError):
    """The file is not a .deb Kiln can read."""


def ar_members(data: bytes) -> dict[str, bytes]:
    """The members of an ar archive (the format of a .deb), by name."""
    if not data.startswith(AR_MAGIC):
        raise DebFormatError("not an ar archive")
    members: dict[str, bytes] = {}
    offset = len(AR_MAGIC)
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        if header[58:60] != b"`\n":
            raise DebFormatError(f"bad ar member header at byte {offset}")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError as exc:
            raise DebFormatError(f"bad ar member size at byte {offset}") from exc
        start = offset + 60
        if start + size > len(data):
            raise DebFormatError(f"ar member {name} is truncated")
        members[name] = data[start : start + size]
        offset = start + size + (size % 2)
    return members


def data_tar(deb: Path) -> bytes:
    """The (uncompressed, or Python-readable compressed) data.tar of a .deb."""
    members = ar_members(deb.read_bytes())
    for name, content in members.items():
        if name.startswith("data.tar") and not name.endswith(".zst"):
            return content
    if any(name.startswith("data.tar") for name in members):
        try:
            return run(["dpkg-deb", "--fsys-tarfile", str(deb)], timeout=300).stdout
        except CommandError as exc:
            raise DebFormatError(f"dpkg-deb cannot read {deb.name}: {exc}") from exc
    raise DebFormatError(f"{deb.name} has no data.tar member")


def changelog(deb: Path, package: str) -> str | None:
    """usr/share/doc/<package>/changelog.Debian.gz of the .deb (changelog.gz for a native
    package), decompressed; None when the package ships none (its doc directory is a symlink to
    another package's, say)."""
    wanted = {
        f"{prefix}usr/share/doc/{package}/{name}"
        for prefix in ("./", "")
        for name in ("changelog.Debian.gz", "changelog.gz")
    }
    try:
        with tarfile.open(fileobj=io.BytesIO(data_tar(deb)), mode="r|*") as archive:
            for member in archive:
                if member.name not in wanted:
                    continue
                if not member.isfile():
                    return None
                handle = archive.extractfile(member)
                if handle is None:
                    return None
                with gzip.GzipFile(fileobj=io.BytesIO(handle.read())) as text:
                    content = text.read(MAX_CHANGELOG + 1)
                if len(content) > MAX_CHANGELOG:
                    raise DebFormatError(f"the changelog in {deb.name} is too large")
                return content.decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DebFormatError(f"{deb.name} cannot be read: {exc}") from exc
    return None
