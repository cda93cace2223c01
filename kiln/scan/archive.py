"""DebianSecurityArchive: Debian's security archive on the mirror this host's apt uses, cached
under Kiln's data directory.

    <cache>/<mirror host and path>/<codename>-security/
        InRelease                 refetched when older than `max_age` (default one hour)
        Packages-<arch>.xz        downloaded again only when InRelease names another checksum
        changelogs/<source>_<version>.txt   one per fixed source version, kept ('' = none found)

InRelease is verified with gpgv against Debian's archive keyring and must still be valid
(Valid-Until); the index must match the checksum InRelease gives, and each .deb the checksum
and size its index gives. A .deb is read and deleted; only its changelog is kept.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import lzma
import os
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kiln.core.clock import utcnow
from kiln.process import CommandError, run
from kiln.scan import deb
from kiln.scan.advisories import AdvisoryUnavailableError
from kiln.scan.index import (
    BinaryPackage,
    SourceUpdate,
    parse_packages,
    release_checksums,
    release_field,
)

logger = logging.getLogger(__name__)

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_CODENAME = re.compile(r"^[a-z]{2,32}$")
_ARCH = re.compile(r"^[a-z0-9]{2,16}(?:-[a-z0-9]{1,16})?$")
_SAFE = re.compile(r"[^A-Za-z0-9.+~_-]")
MAX_CANDIDATES = 4
"""How many of a source's binary packages are tried for its changelog."""

Fetch = Callable[[str, float], bytes]


def http_get(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "kiln-scan"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise AdvisoryUnavailableError(f"{url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise AdvisoryUnavailableError(f"{url} cannot be reached: {exc}") from exc


@dataclass
class DebianSecurityArchive:
    base_url: str
    cache_dir: Path
    max_age: float = 3600.0
    keyring: Path | None = DEBIAN_KEYRING
    """None only for a test mirror: the index is then trusted without a signature."""
    timeout: float = 60.0
    fetch: Fetch = http_get
    _parsed: dict[str, Mapping[str, SourceUpdate]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def location(self) -> str:
        return self.base_url.rstrip("/")

    # -- the index -----------------------------------------------------------------------

    def updates(self, codename: str, architecture: str) -> Mapping[str, SourceUpdate]:
        if not _CODENAME.match(codename) or not _ARCH.match(architecture):
            raise AdvisoryUnavailableError(f"no security suite for {codename}/{architecture}")
        with self._lock:
            folder = self._suite_dir(codename)
            release = self._release(folder, codename)
            path = f"main/binary-{architecture}/Packages.xz"
            expected = release_checksums(release).get(path)
            if expected is None:
                raise AdvisoryUnavailableError(
                    f"{self._suite_url(codename)}/InRelease lists no {path}"
                )
            digest, size = expected
            cached = folder / f"Packages-{architecture}.xz"
            if digest not in self._parsed:
                if not (cached.is_file() and _sha256(cached.read_bytes()) == digest):
                    data = self.fetch(f"{self._suite_url(codename)}/{path}", self.timeout)
                    if len(data) != size or _sha256(data) != digest:
                        raise AdvisoryUnavailableError(
                            f"{path} does not match the checksum in InRelease"
                        )
                    _write(cached, data)
                try:
                    text = lzma.decompress(cached.read_bytes()).decode("utf-8", "replace")
                except lzma.LZMAError as exc:
                    raise AdvisoryUnavailableError(f"{path} cannot be decompressed") from exc
                self._parsed = {digest: parse_packages(text)}
            return self._parsed[digest]

    def _release(self, folder: Path, codename: str) -> str:
        path = folder / "InRelease"
        fresh = path.is_file() and time.time() - path.stat().st_mtime < self.max_age
        data = (
            path.read_bytes()
            if fresh
            else self.fetch(f"{self._suite_url(codename)}/InRelease", self.timeout)
        )
        text = self._verified(data)
        _check_validity(text, codename)
        if not fresh:
            _write(path, data)
        return text

    def _verified(self, data: bytes) -> str:
        if self.keyring is None:
            return _strip_signature(data.decode("utf-8", "replace"))
        if not self.keyring.is_file():
            raise AdvisoryUnavailableError(
                f"the archive keyring {self.keyring} is missing "
                "(apt-get install debian-archive-keyring)"
            )
        with tempfile.TemporaryDirectory(prefix="kiln-gpgv-") as tmp:
            signed = Path(tmp) / "InRelease"
            signed.write_bytes(data)
            try:
                done = run(
                    ["gpgv", "--keyring", str(self.keyring), "--output", "-", str(signed)],
                    timeout=60,
                )
            except CommandError as exc:
                raise AdvisoryUnavailableError(
                    f"InRelease of {self.location} has no good signature: {exc.output[-300:]}"
                ) from exc
        return done.text

    # -- changelogs ----------------------------------------------------------------------

    def changelog(
        self, codename: str, update: SourceUpdate, installed: Sequence[str]
    ) -> str | None:
        folder = self._suite_dir(codename) / "changelogs"
        cached = folder / f"{_SAFE.sub('_', update.source)}_{_quote(update.version)}.txt"
        if cached.is_file():
            return cached.read_text(encoding="utf-8") or None
        for binary in _candidates(update, installed)[:MAX_CANDIDATES]:
            text = self._changelog_of(binary)
            if text:
                _write(cached, text.encode())
                return text
        _write(cached, b"")
        return None

    def _changelog_of(self, binary: BinaryPackage) -> str | None:
        data = self.fetch(f"{self.location}/{binary.filename}", self.timeout * 5)
        if (binary.size and len(data) != binary.size) or _sha256(data) != binary.sha256:
            raise AdvisoryUnavailableError(
                f"{binary.filename} does not match the checksum in the index"
            )
        with tempfile.TemporaryDirectory(prefix="kiln-deb-") as tmp:
            path = Path(tmp) / "package.deb"
            path.write_bytes(data)
            try:
                return deb.changelog(path, binary.name)
            except deb.DebFormatError as exc:
                logger.warning("no changelog from %s: %s", binary.filename, exc)
                return None

    # -- places --------------------------------------------------------------------------

    def _suite_url(self, codename: str) -> str:
        return f"{self.location}/dists/{codename}-security"

    def _suite_dir(self, codename: str) -> Path:
        parts = urllib.parse.urlsplit(self.location)
        mirror = _SAFE.sub("_", f"{parts.netloc}{parts.path}".strip("/")) or "mirror"
        folder = self.cache_dir / mirror / f"{codename}-security"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _candidates(update: SourceUpdate, installed: Sequence[str]) -> list[BinaryPackage]:
    """Binaries to read the changelog from: the installed ones, then the one named like the
    source, then the smallest."""
    wanted = list(dict.fromkeys(installed))
    return sorted(
        update.binaries,
        key=lambda b: (
            wanted.index(b.name) if b.name in wanted else len(wanted),
            b.name != update.source,
            b.size,
        ),
    )


def _check_validity(text: str, codename: str) -> None:
    suite = release_field(text, "Codename")
    if suite and suite != f"{codename}-security":
        raise AdvisoryUnavailableError(f"InRelease is for {suite}, not {codename}-security")
    until = release_field(text, "Valid-Until")
    if not until:
        return
    try:
        moment = email.utils.parsedate_to_datetime(until)
    except (TypeError, ValueError) as exc:
        raise AdvisoryUnavailableError(f"InRelease has a bad Valid-Until: {until}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if moment < utcnow():
        raise AdvisoryUnavailableError(f"InRelease of {codename}-security expired on {until}")


def _strip_signature(text: str) -> str:
    if not text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        return text
    body = text.split("\n\n", 1)[1] if "\n\n" in text else text
    return body.split("-----BEGIN PGP SIGNATURE-----", 1)[0]


def _quote(version: str) -> str:
    return version.replace(":", "%3a")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Atomically: concurrent scans never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
