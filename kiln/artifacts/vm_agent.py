"""qemu-guest-agent put into (and taken out of) a VM disk offline, before boot and before capture.

A build instance is driven through qemu-guest-agent. When the parent image lacks it, Kiln installs
it into the instance's qcow2 overlay before the first boot, and purges exactly what it installed
from the overlay after the build (an image that had the agent keeps it):

1. the overlay is exposed as a raw file (`qemu-storage-daemon` FUSE export), its first partition
   loop-mounted (`partx`), since no nbd module exists on this kind of host;
2. the host's apt, pointed at the host's Debian mirror for the *guest's* codename and at the
   *guest's* dpkg status, downloads exactly the missing packages into a shared cache
   (`<cache>/<codename>/archives`, reused across instances; lists refreshed once a day);
3. `dpkg -i` of those debs in a chroot of the guest (with /proc, /sys, /dev and a policy-rc.d
   that starts nothing); the udev rule of the package starts the agent when the port appears.
"""

from __future__ import annotations

import fcntl
import logging
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kiln import process
from kiln.artifacts.apt_sources import DebianMirror
from kiln.artifacts.vm_mount import chroot_mounts, mounted_root, raw_view
from kiln.core.errors import BuildError

logger = logging.getLogger(__name__)

AGENT_PACKAGE = "qemu-guest-agent"
AGENT_BINARY = "usr/sbin/qemu-ga"
APT_TIMEOUT = 900.0
DPKG_TIMEOUT = 900.0
LISTS_MAX_AGE = 24 * 3600.0
DEBS_IN_GUEST = "var/cache/kiln-agent"
POLICY_RC_D = "usr/sbin/policy-rc.d"
_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[(\S+)\]\)", re.MULTILINE)


class GuestAgentInstallError(BuildError):
    """qemu-guest-agent could not be installed into, or removed from, a VM disk."""


def has_guest_agent(root: Path) -> bool:
    return (root / AGENT_BINARY).exists()


def ensure_guest_agent(
    overlay: Path, *, cache: Path, work: Path, mirror: DebianMirror | None = None
) -> tuple[str, ...]:
    """Install qemu-guest-agent into the qcow2 when missing; the packages Kiln installed."""
    with _guest_root(overlay, work) as root:
        if has_guest_agent(root):
            return ()
        codename = guest_codename(root)
        debs = fetch_debs(
            mirror or DebianMirror.from_host(),
            codename,
            dpkg_status=root / "var/lib/dpkg/status",
            cache=cache / codename,
        )
        _dpkg_in_chroot(root, debs)
        if not has_guest_agent(root):
            raise GuestAgentInstallError(f"{AGENT_BINARY} is missing after dpkg -i")
        return tuple(sorted({deb.name.split("_", 1)[0] for deb in debs}))


def remove_guest_agent(overlay: Path, packages: Sequence[str], *, work: Path) -> None:
    """Purge what `ensure_guest_agent` installed from the (stopped) qcow2.

    The agent itself must go; a library it pulled in stays when something the build installed
    depends on it now (dpkg refuses to purge it, and that refusal is the answer).
    """
    if not packages:
        return
    with _guest_root(overlay, work) as root, _no_services(root), chroot_mounts(root):
        _purge(root, [AGENT_PACKAGE], check=True)
        remaining = [p for p in packages if p != AGENT_PACKAGE]
        for _ in range(len(remaining)):  # libraries may depend on each other: retry in passes
            remaining = [p for p in remaining if not _purge(root, [p], check=False)]
        if remaining:
            logger.info("kept %s: packages installed during the build need them", remaining)


def _purge(root: Path, packages: Sequence[str], *, check: bool) -> bool:
    argv = ["chroot", str(root), "dpkg", "--purge", *packages]
    try:
        done = process.run(argv, timeout=DPKG_TIMEOUT, env=_chroot_env(), check=check)
    except process.CommandError as exc:
        raise GuestAgentInstallError(f"purging {' '.join(packages)} failed: {exc}") from exc
    return done.returncode == 0


def guest_codename(root: Path) -> str:
    try:
        text = (root / "etc/os-release").read_text()
    except OSError:
        text = ""
    found = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.MULTILINE)
    if not found:
        raise GuestAgentInstallError("the guest's /etc/os-release names no Debian codename")
    return found.group(1)


def fetch_debs(
    mirror: DebianMirror, codename: str, *, dpkg_status: Path, cache: Path
) -> list[Path]:
    """The debs that installing the agent onto `dpkg_status` needs, downloaded into cache."""
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / "lock"):
        options = _apt_options(mirror, codename, dpkg_status=dpkg_status, cache=cache)
        lists = cache / "state/lists"
        stamp = cache / "updated"
        if not stamp.exists() or time.time() - stamp.stat().st_mtime > LISTS_MAX_AGE:
            _apt([*options, "update"], what="apt-get update")
            stamp.touch()
        plan = _apt([*options, "--simulate", "install", AGENT_PACKAGE], what="apt-get -s")
        wanted = _INST.findall(plan)
        if not wanted:
            raise GuestAgentInstallError(f"apt plans nothing for {AGENT_PACKAGE}: {plan[-500:]}")
        _apt([*options, "--download-only", "install", AGENT_PACKAGE], what="apt-get download")
        archives = cache / "cache/archives"
        debs = []
        for name, version, arch in wanted:
            deb = archives / f"{name}_{version.replace(':', '%3a')}_{arch}.deb"
            if not deb.is_file():
                raise GuestAgentInstallError(f"apt did not download {deb.name}")
            debs.append(deb)
        logger.info("guest agent debs for %s: %s (lists in %s)", codename, len(debs), lists)
        return debs


def _apt_options(
    mirror: DebianMirror, codename: str, *, dpkg_status: Path, cache: Path
) -> list[str]:
    sources = cache / "sources.list"
    sources.write_text("\n".join(mirror.source_lines(codename)) + "\n")
    for sub in ("state/lists/partial", "cache/archives/partial", "parts"):
        (cache / sub).mkdir(parents=True, exist_ok=True)
    settings = {
        "Dir::Etc::SourceList": str(sources),
        "Dir::Etc::SourceParts": str(cache / "parts"),
        "Dir::Etc::Preferences": "/dev/null",
        "Dir::Etc::PreferencesParts": str(cache / "parts"),
        "Dir::State": str(cache / "state"),
        "Dir::State::status": str(dpkg_status),
        "Dir::Cache": str(cache / "cache"),
        "Debug::NoLocking": "true",
        "APT::Install-Recommends": "false",
        "APT::Get::Assume-Yes": "true",
        "Acquire::Retries": "3",
    }
    argv = ["apt-get", "-q"]
    for key, value in settings.items():
        argv += ["-o", f"{key}={value}"]
    return argv


def _apt(argv: list[str], *, what: str) -> str:
    try:
        return process.run(argv, timeout=APT_TIMEOUT).text
    except process.CommandError as exc:
        raise GuestAgentInstallError(f"{what} failed: {exc}") from exc


def _dpkg_in_chroot(root: Path, debs: Sequence[Path]) -> None:
    inside = root / DEBS_IN_GUEST
    inside.mkdir(parents=True, exist_ok=True)
    try:
        for deb in debs:
            shutil.copyfile(deb, inside / deb.name)
        names = [f"/{DEBS_IN_GUEST}/{deb.name}" for deb in debs]
        with _no_services(root), chroot_mounts(root):
            argv = ["chroot", str(root), "dpkg", "-i", *names]
            process.run(argv, timeout=DPKG_TIMEOUT, env=_chroot_env())
    except process.CommandError as exc:
        raise GuestAgentInstallError(f"dpkg -i of the guest agent failed: {exc}") from exc
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def _chroot_env() -> dict[str, str]:
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C.UTF-8",
    }


@contextmanager
def _guest_root(overlay: Path, work: Path) -> Iterator[Path]:
    with raw_view(overlay, work / "disk.raw") as raw, mounted_root(raw, work / "root") as root:
        yield root


@contextmanager
def _no_services(root: Path) -> Iterator[None]:
    """A policy-rc.d that forbids starting services, unless the guest already has one."""
    policy = root / POLICY_RC_D
    if policy.exists():
        yield
        return
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
