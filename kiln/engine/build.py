"""The image build, as a straight list of stages over a BuildRun:

    PENDING → CREATING (instance-independent checks) → BUILDING (build workflows)
    → TESTING (test workflows, when tests are enabled) → DISTRIBUTING (distribution workflows)
    → INTEGRATING (results recorded on the image) → AVAILABLE

`run_build` is re-entrant: a build parked on WaitForAction is run again when an action is sent
and continues from its recorded step executions. Whatever the outcome, the ledger is swept
(the build's instances, its local image, temporary files) except an instance kept for
debugging (terminateInstanceOnFailure false).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from kiln.amis import registry as ami_registry
from kiln.amis.registry import AMI_ID
from kiln.core.clock import utcnow
from kiln.core.errors import BuildError, KilnError
from kiln.engine import executions, ledger, prerequisites, status
from kiln.engine.context import BuildRun, EngineConfig
from kiln.engine.host import BuildHost
from kiln.engine.ledger import LedgerKind, Remover
from kiln.engine.plan import BuildPlan
from kiln.engine.runner import Outcome, WorkflowRunner
from kiln.engine.status import ImageStatus
from kiln.store import resources
from kiln.store.database import Database

logger = logging.getLogger(__name__)

_STAGES = (
    ("BUILD", ImageStatus.BUILDING),
    ("TEST", ImageStatus.TESTING),
    ("DISTRIBUTION", ImageStatus.DISTRIBUTING),
)


class BuildOutcome(StrEnum):
    AVAILABLE = "AVAILABLE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    WAITING = "WAITING"


@dataclass(frozen=True)
class BuildResult:
    outcome: BuildOutcome
    message: str | None = None


def removers(host: BuildHost, database: Database) -> Mapping[LedgerKind, Remover]:
    def remove_image(image: str) -> None:
        host.remove_image(image)  # an AMI's disk is found through its row: the row goes last
        if AMI_ID.match(image):
            with database.transaction() as session:
                ami_registry.deregister(session, image)

    return {
        LedgerKind.CONTAINER: host.remove_instances,
        LedgerKind.IMAGE: remove_image,
        LedgerKind.FILE: ledger.remove_path,
        LedgerKind.DIR: ledger.remove_path,
    }


def open_run(
    database: Database, host: BuildHost, config: EngineConfig, image_arn: str, plan: BuildPlan
) -> BuildRun:
    with database.transaction() as session:
        row = resources.by_arn(session, image_arn)
        if row is None:
            raise KilnError(f"no image {image_arn}")
        return BuildRun(
            database=database, host=host, config=config, image_arn=image_arn,
            account=row.account, region=row.region, name=row.arn_name,
            version=str(row.version), build_number=int(row.build or 1), plan=plan,
        )  # fmt: skip


def run_build(run: BuildRun) -> BuildResult:
    """Run (or resume) the build to AVAILABLE, FAILED, CANCELLED or a parked WaitForAction."""
    current = run.status()
    if current is ImageStatus.CANCELLED:
        _unwind_cancelled(run)
        return _end(run, BuildResult(BuildOutcome.CANCELLED, "cancelled"), keep=False)
    if current not in status.IN_PROGRESS:
        done = BuildOutcome.AVAILABLE if current is ImageStatus.AVAILABLE else BuildOutcome.FAILED
        return BuildResult(done, f"the image is already {current}")
    _advance(run, ImageStatus.CREATING)
    try:
        _check_prerequisites(run)
    except BuildError as exc:
        return _fail(run, f"Prerequisites: {exc}")
    earlier: dict[str, Any] = {}
    for position, planned in enumerate(run.plan.workflows):
        stage = dict(_STAGES)[planned.type]
        if not _advance(run, stage):
            return _end(run, BuildResult(BuildOutcome.CANCELLED, "cancelled"), keep=False)
        try:
            result = WorkflowRunner(run, planned, position, earlier).execute()
        except KilnError as exc:
            return _fail(run, f"Workflow {planned.arn} could not run: {exc}")
        if result.outcome is Outcome.WAITING:
            return BuildResult(BuildOutcome.WAITING, result.message)
        if result.outcome is Outcome.CANCELLED:
            return _end(run, BuildResult(BuildOutcome.CANCELLED, result.message), keep=False)
        if result.outcome is Outcome.FAILED and planned.on_failure != "CONTINUE":
            return _fail(run, f"{planned.type} workflow failed: {result.message}")
        earlier.update(result.outputs)
    if not _advance(run, ImageStatus.DISTRIBUTING) or not _advance(run, ImageStatus.INTEGRATING):
        return _end(run, BuildResult(BuildOutcome.CANCELLED, "cancelled"), keep=False)
    _integrate(run)
    # Sweep before AVAILABLE: whoever pulls the image once it is AVAILABLE gets the same image
    # id as the local build image, which the sweep's `rmi --force` would take away from them.
    available = _end(run, BuildResult(BuildOutcome.AVAILABLE), keep=False)
    if not _advance(run, ImageStatus.AVAILABLE):
        return BuildResult(BuildOutcome.CANCELLED, "cancelled")
    return available


def _check_prerequisites(run: BuildRun) -> None:
    """The instance profile and what its role may do, before any instance is launched."""
    plan = run.plan
    if plan.distribution_only:  # DistributeImage launches nothing
        return
    with run.database.transaction() as session:
        role = prerequisites.instance_role(
            session, account=run.account, profile_name=plan.instance_profile
        )
        needed = prerequisites.requirements(
            container=plan.is_container,
            component_arns=[c.arn for c in plan.components],
            recipe_arn=plan.recipe_arn,
        )
        prerequisites.check(session, role, needed)


def _unwind_cancelled(run: BuildRun) -> None:
    """Let unfinished executions of a cancelled build record it and roll back."""
    with run.database.transaction() as session:
        open_positions = {
            row.position
            for row in executions.executions_of(session, run.image_arn)
            if row.status in ("RUNNING", "PENDING")
        }
    for position, planned in enumerate(run.plan.workflows):
        if position in open_positions:
            try:
                WorkflowRunner(run, planned, position, {}).execute()
            except KilnError:
                logger.exception("unwinding %s of cancelled %s", planned.arn, run.image_arn)


_ORDER = (
    ImageStatus.PENDING,
    ImageStatus.CREATING,
    ImageStatus.BUILDING,
    ImageStatus.TESTING,
    ImageStatus.DISTRIBUTING,
    ImageStatus.INTEGRATING,
    ImageStatus.AVAILABLE,
)


def _advance(run: BuildRun, target: ImageStatus) -> bool:
    """Move forward to target unless already there or past it; False if cancelled."""
    with run.database.transaction() as session:
        row = resources.by_arn(session, run.image_arn)
        if row is None:
            return False
        current = status.status_of(row)
        if current is ImageStatus.CANCELLED:
            return False
        if current in _ORDER and _ORDER.index(current) >= _ORDER.index(target):
            return True
        status.transition(session, run.image_arn, target, now=utcnow())
        return True


def _integrate(run: BuildRun) -> None:
    """Record what the build produced on the image: outputResources, osVersion."""
    containers: list[dict[str, Any]] = []
    os_version = None
    with run.database.transaction() as session:
        for execution in executions.executions_of(session, run.image_arn):
            for step in executions.steps_of(session, execution.id):
                if step.status != executions.StepStatus.COMPLETED:
                    continue
                outputs = executions.loads(step.outputs)
                if run.plan.is_container:
                    containers += outputs.get("distributedImages") or []
                os_version = outputs.get("osVersion") or os_version
        row = resources.by_arn(session, run.image_arn)
        assert row is not None
        if run.plan.is_container:
            produced: dict[str, Any] = {"containers": containers}
        else:
            produced = {"amis": output_amis(session, run.image_arn)}
        status.set_body(session, row, outputResources=produced, osVersion=os_version)
        # The AMIs outlive the build: their ledger entries are released, not swept.
        made = {ami["image"] for ami in produced.get("amis", [])}
        for entry in ledger.outstanding(session, run.image_arn):
            if entry.kind == LedgerKind.IMAGE.value and entry.ref in made:
                entry.released_at = utcnow()


def output_amis(session: Session, image_arn: str) -> list[dict[str, Any]]:
    """`outputResources.amis`: every AMI of the image, per region and account (the build's own
    and its distributed copies), as Image Builder's `Ami` shape."""
    found = []
    for ami in ami_registry.of_image(session, image_arn):
        entry: dict[str, Any] = {
            "region": ami.region,
            "image": ami.ami_id,
            "name": ami.name,
            "accountId": ami.account,
            "state": {"status": ami.state.upper()},
        }
        if ami.description:
            entry["description"] = ami.description
        found.append(entry)
    return found


def _fail(run: BuildRun, reason: str) -> BuildResult:
    notes = " ".join(run.notes)
    message = f"{reason} {notes}".strip()
    with run.database.transaction() as session:
        row = resources.by_arn(session, run.image_arn)
        if row is not None and status.status_of(row) in status.IN_PROGRESS:
            swept = {
                entry.ref
                for entry in ledger.outstanding(session, run.image_arn)
                if entry.kind == LedgerKind.IMAGE.value
            }
            made = [] if run.plan.is_container else output_amis(session, run.image_arn)
            amis = [ami for ami in made if ami["image"] not in swept]
            if amis:  # a failed distribution: the AMIs it made stay, and are shown
                status.set_body(session, row, outputResources={"amis": amis})
            status.transition(
                session, run.image_arn, ImageStatus.FAILED, now=utcnow(), reason=message
            )
    return _end(run, BuildResult(BuildOutcome.FAILED, message), keep=bool(run.notes))


def _end(run: BuildRun, result: BuildResult, *, keep: bool) -> BuildResult:
    table = dict(removers(run.host, run.database))
    if keep:
        table.pop(LedgerKind.CONTAINER)
    removed = ledger.sweep(run.database, run.image_arn, table)
    logger.info("build %s ended %s; removed %s", run.image_arn, result.outcome, removed)
    return result


def fail_interrupted(database: Database, host: BuildHost, image_arn: str, reason: str) -> list[str]:
    """Fail an image whose build was interrupted (Kiln stopped), and sweep its ledger."""
    with database.transaction() as session:
        row = resources.by_arn(session, image_arn)
        if row is not None and status.status_of(row) in status.IN_PROGRESS:
            status.transition(session, image_arn, ImageStatus.FAILED, now=utcnow(), reason=reason)
        for execution in executions.executions_of(session, image_arn):
            if execution.status in ("RUNNING", "ROLLBACK_IN_PROGRESS", "PENDING"):
                execution.status = "FAILED"
                execution.message = reason
                execution.end_time = utcnow()
                for step in executions.steps_of(session, execution.id):
                    if step.status == "RUNNING":
                        step.status = "FAILED"
                        step.message = reason
                        step.end_time = utcnow()
    return ledger.sweep(database, image_arn, removers(host, database))
