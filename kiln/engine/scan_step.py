"""CollectImageScanFindings: Kiln's stand-in for Amazon Inspector's snapshot of a test instance.

The step reads the instance's dpkg inventory and os-release through the Communicator, matches
it against `<codename>-security` (kiln.scan), and stores one ImageScanFinding per vulnerability
for the image, replacing any earlier snapshot. The image's scanState follows:

    SCANNING (reading the instance) → COLLECTING (matching the archive) → COMPLETED
    any failure → FAILED with the reason (the step fails; the managed test workflows run it
    with onFailure Continue, so the build goes on)
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from kiln.artifacts.apt_sources import DebianMirror
from kiln.core.clock import utcnow
from kiln.core.errors import BuildError, ConfigurationError, KilnError
from kiln.engine import status
from kiln.engine.context import BuildRun
from kiln.instances.base import Instance
from kiln.scan import (
    AdvisorySource,
    DebianSecurityArchive,
    Vulnerability,
    find_vulnerabilities,
    finding,
    parse_inventory,
)
from kiln.scan.findings import severity_of
from kiln.scan.inventory import ARCHITECTURE, DPKG_QUERY, OS_RELEASE, os_release
from kiln.store import resources
from kiln.store.scan_schema import ScanFindingRow

if TYPE_CHECKING:
    from kiln.engine.actions import StepRun

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT = 600.0
_ARCHIVES: dict[tuple[str, Path], DebianSecurityArchive] = {}
_ARCHIVES_LOCK = threading.Lock()


class ScanStatus(StrEnum):
    """The ImageScanStatus values this step sets."""

    SCANNING = "SCANNING"
    COLLECTING = "COLLECTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


def collect_image_scan_findings(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    run = step.run
    log = step.log_dir / "scan.log"
    _scan_state(run, ScanStatus.SCANNING)
    try:
        instance = _instance(run, inputs)
        release = os_release(_exec(instance, OS_RELEASE, log=log))
        codename = _debian_codename(release)
        architecture = _exec(instance, ARCHITECTURE, log=log).strip()
        excluded = set(getattr(instance, "agent_packages", ()))
        inventory = [
            p for p in parse_inventory(_exec(instance, DPKG_QUERY, log=log, quiet=True))
            if p.name not in excluded
        ]  # fmt: skip
        _scan_state(run, ScanStatus.COLLECTING)
        advisories = advisory_source(run)
        found = find_vulnerabilities(
            inventory, advisories, codename=codename, architecture=architecture
        )
    except (KilnError, OSError) as exc:  # OSError: the scan cache (disk full, permissions)
        reason = f"The image scan failed: {exc}"
        _scan_state(run, ScanStatus.FAILED, reason)
        raise BuildError(reason) from exc
    count = _store(run, found, codename=codename)
    summary = (
        f"{count} findings in {len(inventory)} packages of Debian {codename} ({architecture}), "
        f"matched against {advisories.location} {codename}-security"
    )
    _write_log(log, summary, found)
    _scan_state(run, ScanStatus.COMPLETED)
    return {"runCommandId": str(uuid.uuid4()), "status": "Success", "output": summary}


def advisory_source(run: BuildRun) -> AdvisorySource:
    """The engine's configured source, or Debian's security archive on the mirror apt uses,
    cached under <data_dir>/scan (one per mirror, shared by builds)."""
    if run.config.advisories is not None:
        return run.config.advisories
    try:
        security = DebianMirror.from_host().security
    except ConfigurationError as exc:
        raise BuildError(f"no Debian mirror is configured for apt: {exc}") from exc
    if not security:
        raise BuildError("apt's sources name no Debian security archive (<codename>-security)")
    key = (security, run.config.data_dir / "scan")
    with _ARCHIVES_LOCK:
        if key not in _ARCHIVES:
            _ARCHIVES[key] = DebianSecurityArchive(base_url=security, cache_dir=key[1])
        return _ARCHIVES[key]


def _debian_codename(release: Mapping[str, str]) -> str:
    if release.get("ID") != "debian":
        raise BuildError(
            f"Kiln scans Debian images against Debian's security archive; this image is "
            f"{release.get('PRETTY_NAME') or release.get('ID') or 'not Debian'}"
        )
    codename = release.get("VERSION_CODENAME", "")
    if not codename:
        raise BuildError(
            f"{release.get('PRETTY_NAME', 'this Debian')} names no release codename "
            "(testing and unstable have no security archive)"
        )
    return codename


def _instance(run: BuildRun, inputs: Mapping[str, Any]) -> Instance:
    instance_id = str(inputs.get("instanceId") or "")
    instance = run.host.attach(instance_id) if instance_id else None
    if instance is None:
        raise BuildError(f"instance '{instance_id}' is not running")
    return instance


def _exec(instance: Instance, argv: Sequence[str], *, log: Path, quiet: bool = False) -> str:
    chunks: list[bytes] = []
    outcome = instance.communicator.exec(
        list(argv), on_output=chunks.append, timeout=COMMAND_TIMEOUT
    )
    text = b"".join(chunks).decode("utf-8", "replace")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        shown = f"({len(text.splitlines())} lines)" if quiet else text
        handle.write(f"$ {' '.join(argv)}\n{shown}\n")
    if outcome.timed_out or outcome.exit_code != 0:
        raise BuildError(f"`{' '.join(argv)}` exited with {outcome.exit_code}: {text[-300:]}")
    return text


def _scan_state(run: BuildRun, value: ScanStatus, reason: str | None = None) -> None:
    with run.database.transaction() as session:
        row = resources.by_arn(session, run.image_arn)
        if row is None:
            return
        state = {"status": value.value, **({"reason": reason[:1024]} if reason else {})}
        status.set_body(session, row, scanState=state)


def _store(run: BuildRun, found: Sequence[Vulnerability], *, codename: str) -> int:
    """Replace the image's findings with this scan's, in one transaction. A vulnerability an
    earlier scan of the image found (a retried build) keeps its firstObservedAt."""
    now = utcnow()
    with run.database.transaction() as session:
        row = resources.by_arn(session, run.image_arn)
        pipeline = str(row.body.get("sourcePipelineArn") or "") if row is not None else ""
        earlier = {
            old.vulnerability_id: old.finding.get("firstObservedAt")
            for old in session.scalars(
                select(ScanFindingRow).where(ScanFindingRow.image_arn == run.image_arn)
            )
        }
        session.execute(delete(ScanFindingRow).where(ScanFindingRow.image_arn == run.image_arn))
        for vulnerability in found:
            body = finding(
                vulnerability, account=run.account, image_arn=run.image_arn,
                pipeline_arn=pipeline or None, codename=codename, observed=now,
            )  # fmt: skip
            if earlier.get(vulnerability.id) is not None:
                body["firstObservedAt"] = earlier[vulnerability.id]
            session.add(
                ScanFindingRow(
                    account=run.account,
                    region=run.region,
                    image_arn=run.image_arn,
                    pipeline_arn=pipeline or None,
                    vulnerability_id=vulnerability.id,
                    severity=severity_of(vulnerability.urgency).value,
                    finding=body,
                    observed_at=now,
                )
            )
    return len(found)


def _write_log(log: Path, summary: str, found: Sequence[Vulnerability]) -> None:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(summary + "\n")
        for v in found:
            packages = ", ".join(f"{p.installed.name} {p.installed.version}" for p in v.packages)
            handle.write(
                f"{v.id}\t{severity_of(v.urgency).value}\t{v.source} → {v.fixed_version}\t"
                f"{packages}\n"
            )
