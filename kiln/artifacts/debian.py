"""Kiln's managed Debian base container images, bootstrapped from the host's Debian mirror.

`ensure_debian_image(storage, "12")` answers `localhost/kiln/debian:12`, building it on first use:
`mmdebstrap --variant=minbase bookworm` into a tarball (about 15-30 s), then `podman import` as
`localhost/kiln/debian:12-YYYYMMDD`, tagged also `:12` and `:bookworm`. An existing dated image
is reused (unless older than `max_age`); a file lock makes concurrent callers build it once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kiln import process
from kiln.artifacts.apt_sources import DebianMirror
from kiln.artifacts.containers import ContainerStorage
from kiln.core.errors import BuildError

logger = logging.getLogger(__name__)

REPOSITORY = "localhost/kiln/debian"
BOOTSTRAP_TIMEOUT = 1800.0
IMPORT_TIMEOUT = 600.0
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class DebianRelease:
    version: str
    codename: str

    def aliases(self) -> tuple[str, ...]:
        return (self.version, self.codename)


RELEASES = (
    DebianRelease("12", "bookworm"),
    DebianRelease("13", "trixie"),
)


class UnknownDebianReleaseError(BuildError):
    def __init__(self, name: str) -> None:
        known = ", ".join(a for r in RELEASES for a in r.aliases())
        super().__init__(f"unknown Debian release {name!r} (known: {known})")
        self.name = name


def debian_release(name: str) -> DebianRelease:
    """The release for `12`, `bookworm`, `debian:12`, `debian:bookworm`."""
    key = name.removeprefix("debian:").strip().lower()
    for release in RELEASES:
        if key in release.aliases():
            return release
    raise UnknownDebianReleaseError(name)


@dataclass(frozen=True)
class DebianImage:
    release: DebianRelease
    name: str  # the dated tag, e.g. localhost/kiln/debian:12-20261129
    image_id: str

    @property
    def floating_name(self) -> str:
        return f"{REPOSITORY}:{self.release.version}"


def bootstrap_rootfs_tarball(
    mirror: DebianMirror, release: DebianRelease, *, dest: Path, variant: str = "minbase"
) -> Path:
    """mmdebstrap `release` from `mirror` into the tarball `dest` (format from its suffix)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "mmdebstrap",
        f"--variant={variant}",
        "--quiet",
        release.codename,
        str(dest),
        *mirror.source_lines(release.codename),
    ]
    started = time.monotonic()
    try:
        process.run(argv, timeout=BOOTSTRAP_TIMEOUT)
    except process.CommandError as exc:
        raise BuildError(f"mmdebstrap of Debian {release.codename} failed: {exc}") from exc
    logger.info("mmdebstrap %s: %.1fs", release.codename, time.monotonic() - started)
    return dest


def ensure_debian_image(
    storage: ContainerStorage,
    release_name: str,
    *,
    mirror: DebianMirror | None = None,
    max_age: dt.timedelta | None = None,
    today: dt.date | None = None,
) -> DebianImage:
    """The newest managed image of the release, bootstrapping one if none (or too old)."""
    release = debian_release(release_name)
    today = today or dt.datetime.now(dt.UTC).date()
    with _locked(storage.locks / f"debian-{release.version}.lock"):
        current = newest_debian_image(storage, release)
        if current is not None and not _too_old(current, today, max_age):
            _tag_aliases(storage, current)
            return current
        mirror = mirror or DebianMirror.from_host()
        name = f"{REPOSITORY}:{release.version}-{today:%Y%m%d}"
        with tempfile.TemporaryDirectory(dir=storage.root, prefix="debian-") as tmp:
            tarball = bootstrap_rootfs_tarball(mirror, release, dest=Path(tmp) / "rootfs.tar")
            image_id = _import(storage, tarball, name=name, release=release, day=today)
        image = DebianImage(release, name, image_id)
        _tag_aliases(storage, image)
        return image


def newest_debian_image(storage: ContainerStorage, release: DebianRelease) -> DebianImage | None:
    done = storage.run(
        ["podman", "images", "--noheading", "--format", "{{.Tag}} {{.ID}}", REPOSITORY],
        timeout=60,
    )
    dated: list[tuple[str, str]] = []
    for line in done.text.splitlines():
        tag, _, image_id = line.strip().partition(" ")
        version, _, stamp = tag.partition("-")
        if version == release.version and len(stamp) == 8 and stamp.isdigit():
            dated.append((stamp, image_id))
    if not dated:
        return None
    stamp, image_id = max(dated)
    return DebianImage(release, f"{REPOSITORY}:{release.version}-{stamp}", image_id)


def _too_old(image: DebianImage, today: dt.date, max_age: dt.timedelta | None) -> bool:
    if max_age is None:
        return False
    stamp = image.name.rsplit("-", 1)[1]
    built = dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
    return today - built > max_age


def _import(
    storage: ContainerStorage, tarball: Path, *, name: str, release: DebianRelease, day: dt.date
) -> str:
    changes = [
        'CMD ["/bin/bash"]',
        f"ENV PATH={PATH_ENV}",
        f"LABEL org.opencontainers.image.version={release.version}-{day:%Y%m%d}",
        f"LABEL org.opencontainers.image.title=debian-{release.version}",
        "LABEL org.opencontainers.image.vendor=Kiln",
        f"LABEL kiln.debian.codename={release.codename}",
    ]
    argv = ["podman", "import", "--quiet"]
    for change in changes:
        argv += ["--change", change]
    argv += [str(tarball), name]
    started = time.monotonic()
    try:
        done = storage.run(argv, timeout=IMPORT_TIMEOUT)
    except process.CommandError as exc:
        raise BuildError(f"podman import of {name} failed: {exc}") from exc
    logger.info("podman import %s: %.1fs", name, time.monotonic() - started)
    return done.text.strip().removeprefix("sha256:")[:12]


def _tag_aliases(storage: ContainerStorage, image: DebianImage) -> None:
    names = [f"{REPOSITORY}:{alias}" for alias in image.release.aliases()]
    storage.run(["podman", "tag", image.name, *names], timeout=60)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
