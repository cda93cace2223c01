"""Step actions as a registry: what each workflow step action does, and how it rolls back.

    LaunchInstance, ExecuteComponents, CreateImage, TerminateInstance, WaitForAction,
    BootstrapInstanceForContainer, CollectImageMetadata, SanitizeInstance, RunCommand,
    DistributeImage, ModifyImageAttributes, ApplyImageConfigurations (AMIs: engine.distribute)

An action takes the step's resolved inputs and returns its outputs; it raises a BuildError
to fail the step. WaitForAction is handled by the runner (it parks the execution).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kiln.amis import registry as ami_registry
from kiln.core.clock import utcnow
from kiln.core.errors import BuildError
from kiln.core.ids import ami_id
from kiln.core.nametemplate import render_container_tag
from kiln.engine import container, distribute, executions, prerequisites
from kiln.engine.context import BuildRun
from kiln.engine.host import PublishTarget, capture_manifest
from kiln.engine.ledger import LedgerKind
from kiln.engine.logs import step_log_dir
from kiln.engine.scan_step import collect_image_scan_findings
from kiln.instances.base import Instance
from kiln.objectstore import ObjectStoreError
from kiln.store.engine_schema import ImagePackageRow
from kiln.toe import Communicator, RunDocument, parse_document, run_documents

logger = logging.getLogger(__name__)

AMI_ONLY = (
    "{action} applies to AMIs (launch permissions, launch templates, SSM parameters); a "
    "container image's distribution is its DistributeImage step alone."
)
SANITIZE = (
    "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/* /var/tmp/* 2>/dev/null; "
    "if [ -f /etc/machine-id ]; then : > /etc/machine-id; fi; true"
)
VM_SANITIZE = (
    "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb "
    "/tmp/* /var/tmp/* /root/.bash_history 2>/dev/null; "
    "find /var/log -type f \\( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \\) -delete; "
    "find /var/log -type f -exec truncate -s 0 {} + 2>/dev/null; "
    "if [ -f /etc/machine-id ]; then : > /etc/machine-id; fi; rm -f /var/lib/dbus/machine-id; "
    "rm -f /etc/ssh/ssh_host_*; "
    "if [ -x /usr/bin/ssh-keygen ]; then mkdir -p /etc/systemd/system/multi-user.target.wants && "
    "printf '%s\\n' '[Unit]' 'Description=Kiln: regenerate SSH host keys' "
    "'Before=ssh.service' 'ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key' '[Service]' "
    "'Type=oneshot' 'ExecStart=/usr/bin/ssh-keygen -A' '[Install]' "
    "'WantedBy=multi-user.target' > /etc/systemd/system/kiln-ssh-hostkeys.service && "
    "ln -sf /etc/systemd/system/kiln-ssh-hostkeys.service "
    "/etc/systemd/system/multi-user.target.wants/kiln-ssh-hostkeys.service; fi; sync; true"
)
"""SanitizeInstance for an AMI: what makes every instance launched from it its own."""
PACKAGES = [
    "dpkg-query",
    "--show",
    "--showformat",
    "${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\n",
]
"""The inventory's listing: dpkg also lists packages removed but not purged (config-files)."""
COMMAND_TIMEOUT = 3600.0


@dataclass(frozen=True)
class StepRun:
    run: BuildRun
    workflow_type: str
    step_name: str
    execution_id: str

    @property
    def log_dir(self) -> Path:
        return step_log_dir(self.run.log_root, self.workflow_type, self.step_name)


Run = Callable[[StepRun, Mapping[str, Any]], dict[str, Any]]
Rollback = Callable[[StepRun, Mapping[str, Any], Mapping[str, Any]], None]


@dataclass(frozen=True)
class ActionHandler:
    run: Run
    rollback: Rollback | None = None
    logs: bool = False
    """The action writes logs under its step's log folder (StepRun.log_dir)."""


def _instance(step: StepRun, inputs: Mapping[str, Any]) -> Instance:
    instance_id = str(inputs.get("instanceId") or "")
    instance = step.run.host.attach(instance_id) if instance_id else None
    if instance is None:
        raise BuildError(f"instance '{instance_id}' is not running")
    return instance


def _shell(instance: Instance, script: str, *, log: Path, timeout: float = COMMAND_TIMEOUT) -> str:
    chunks: list[bytes] = []
    outcome = instance.communicator.exec(
        ["/bin/sh", "-c", script], on_output=chunks.append, timeout=timeout
    )
    text = b"".join(chunks).decode("utf-8", "replace")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {script}\n{text}\n")
    if outcome.timed_out or outcome.exit_code != 0:
        raise BuildError(f"`{script[:120]}` exited with {outcome.exit_code}: {text[-500:]}")
    return text


# -- LaunchInstance ----------------------------------------------------------------------------


def launch_instance(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    run = step.run
    image = inputs.get("imageIdOverride")
    if not image:
        if step.workflow_type == "TEST":
            image = run.output_image if run.plan.is_container else _created_ami(run)
        elif run.plan.is_container:
            parent = container.from_image(
                container.rendered_dockerfile(run.plan.dockerfile_template, run.plan.parent_image)
            )
            image = run.host.resolve_parent(parent)
        else:
            image = run.host.resolve_parent(run.plan.parent_image)
    if not image:
        raise BuildError("the build workflow created no AMI for the test instance to start from")
    types = list(inputs.get("instanceTypesOverride") or run.plan.instance_types or ["t3.micro"])
    run.record(LedgerKind.CONTAINER, run.selector)
    instance = run.host.launch(image=str(image), instance_type=types[0], labels=run.labels)
    outcome = instance.communicator.exec(["true"], on_output=lambda _c: None, timeout=120)
    if outcome.exit_code != 0:
        raise BuildError(f"instance {instance.id} does not answer (waitFor {inputs['waitFor']})")
    return {"instanceId": instance.id, "instanceType": types[0]}


def terminate_on_rollback(
    step: StepRun, _inputs: Mapping[str, Any], outputs: Mapping[str, Any]
) -> None:
    instance_id = outputs.get("instanceId")
    if not instance_id:
        step.run.host.remove_instances(step.run.selector)
        return
    if not step.run.plan.terminate_on_failure:
        step.run.notes.append(
            f"The build instance {instance_id} was kept (terminateInstanceOnFailure is false); "
            f"open a shell in it with: {step.run.host.shell_hint(str(instance_id))}"
        )
        return
    instance = step.run.host.attach(str(instance_id))
    if instance is not None:
        instance.terminate()


# -- ExecuteComponents / CreateImage -------------------------------------------------------------


def _documents(step: StepRun, phases: tuple[str, ...]) -> list[RunDocument]:
    documents = []
    for component in step.run.plan.components:
        try:
            document = parse_document(component.data, platform=step.run.plan.platform)
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError(f"component '{component.arn}' cannot be read: {exc}") from exc
        if any(phase.name in phases for phase in document.phases):
            documents.append(RunDocument(document, component.parameters))
    return documents


def _run_components(step: StepRun, comm: Communicator, phases: tuple[str, ...]) -> dict[str, Any]:
    documents = _documents(step, phases)
    if not documents:
        return {"runCommandId": str(uuid.uuid4()), "status": "Success", "output": ""}
    result = run_documents(
        documents,
        communicator=comm,
        log_dir=step.log_dir,
        phases=list(phases),
        execution_id=str(uuid.uuid4()),
        object_store=step.run.config.objects,
    )
    ship_logs(step, Path(str(result.log_url)))
    if not result.succeeded:
        raise BuildError(
            f"components failed in phase {'/'.join(phases)}: {result.failure_message} "
            f"(logs: {result.log_url})"
        )
    return {
        "runCommandId": result.execution_id,
        "status": "Success",
        "output": str(result.log_url),
    }


def ship_logs(step: StepRun, folder: Path) -> None:
    """Upload a component run's log folder to `logging.s3Logs`, object by object, each one
    authorised for the instance profile role (s3:PutObject on the object ARN)."""
    run = step.run
    bucket = run.plan.log_bucket
    if not bucket or run.config.objects is None or not folder.is_dir():
        return
    prefix = "/".join(
        part.strip("/")
        for part in (
            run.plan.log_prefix,
            run.name,
            run.version,
            str(run.build_number),
            f"{step.workflow_type.lower()}-{step.step_name}",
            folder.name,
        )
        if part.strip("/")
    )
    store = run.config.objects.for_bucket(bucket)
    with run.database.transaction() as session:
        role = prerequisites.instance_role(
            session, account=run.account, profile_name=run.plan.instance_profile
        )
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        for path in files:
            denied = prerequisites.may_put_log(
                session, role, bucket=bucket, key=f"{prefix}/{path.relative_to(folder)}"
            )
            if denied:
                raise BuildError(denied)
    try:
        if not store.bucket_exists(bucket):
            store.create_bucket(bucket)
        for path in files:
            with path.open("rb") as handle:
                store.put_object(bucket, f"{prefix}/{path.relative_to(folder)}", handle)
    except ObjectStoreError as exc:
        raise BuildError(
            f"build logs could not be uploaded to s3://{bucket}/{prefix}: {exc}"
        ) from exc


def execute_components(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    instance = _instance(step, inputs)
    run = step.run
    if step.workflow_type == "TEST":
        return _run_components(step, instance.communicator, ("test",))
    if not run.plan.is_container:
        return _run_components(step, instance.communicator, ("build", "validate"))
    outputs: dict[str, Any] = {}

    def components(comm: Communicator) -> None:
        outputs.update(_run_components(step, comm, ("build", "validate")))

    plan = run.plan
    instructions = container.rendered_dockerfile(plan.dockerfile_template, plan.parent_image)
    changes = container.apply_dockerfile(
        instructions, instance, run_components=components, log=step.log_dir / "dockerfile.log"
    )
    run.record(LedgerKind.IMAGE, run.output_image)
    run.host.commit(instance.id, image=run.output_image, changes=changes)
    return {**outputs, "status": "Success", "imageId": run.output_image}


def create_image(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    if not step.run.plan.is_container:
        return _create_ami(step, inputs)
    instance = _instance(step, inputs)
    step.run.record(LedgerKind.IMAGE, step.run.output_image)
    step.run.host.commit(instance.id, image=step.run.output_image, changes=())
    return {"imageId": step.run.output_image}


def _create_ami(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """CreateImage of an AMI build, as EC2 does it: a new AMI id (recorded in the ledger first;
    a successful build releases it) is registered `pending` with its disk's name in the build
    region's image store, the host captures the instance's disk there, and the AMI becomes
    `available` with the capture's facts as its manifest. A failure on the way leaves the row
    for the ledger sweep, which finds the disk through it."""
    run = step.run
    instance = _instance(step, inputs)
    ami = ami_id()
    stores = run.config.stores()
    disk = stores.relative(run.region, ami)
    run.record(LedgerKind.IMAGE, ami)
    with run.database.transaction() as session:
        ami_registry.register(
            session,
            ami_id=ami,
            account=run.account,
            region=run.region,
            name=ami_name(run),
            description=f"Built by Kiln from {run.image_arn}",
            disk=disk,
            state=ami_registry.PENDING,
            image_arn=run.image_arn,
            now=utcnow(),
        )
    attributes = (
        f"region={run.region}",
        f"account={run.account}",
        f"name={ami_name(run)}",
        f"image={run.image_arn}",
    )
    run.host.commit(instance.id, image=ami, changes=attributes)
    manifest = capture_manifest(run.host, ami)
    size = stores.size(disk)
    with run.database.transaction() as session:
        ami_registry.update(
            session, ami, state=ami_registry.AVAILABLE, size=size, manifest=manifest
        )
    return {"imageId": ami}


def ami_name(run: BuildRun) -> str:
    return f"{run.name} {run.version}-{run.build_number}"


def _created_ami(run: BuildRun) -> str | None:
    """The AMI the build workflow's CreateImage step made (the test instance's image)."""
    with run.database.transaction() as session:
        return executions.created_ami(session, run.image_arn)


def terminate_instance(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    instance = step.run.host.attach(str(inputs.get("instanceId") or ""))
    if instance is not None:
        instance.terminate()
    return {}


# -- instance chores ----------------------------------------------------------------------------


def bootstrap_for_container(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """AWS installs Docker on the build host; a Kiln build instance is the container itself."""
    instance = _instance(step, inputs)
    text = _shell(instance, "true", log=step.log_dir / "bootstrap.log")
    return {"runCommandId": str(uuid.uuid4()), "status": "Success", "output": text}


def collect_image_metadata(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    instance = _instance(step, inputs)
    log = step.log_dir / "inventory.log"
    listing = _shell(instance, " ".join(f"'{a}'" for a in PACKAGES), log=log)
    # A VM's guest agent, when Kiln installed it, is purged before capture: not in the image.
    kiln_installed = set(getattr(instance, "agent_packages", ()))
    packages = [
        {"packageName": name, "packageVersion": version}
        for state, name, version, *_ in (line.split("\t") for line in listing.splitlines() if line)
        if state == "installed" and name not in kiln_installed
    ]
    release = _shell(instance, '. /etc/os-release && echo "$PRETTY_NAME"', log=log).strip()
    with step.run.database.transaction() as session:
        _store_packages(session, step.run.image_arn, packages)
    return {"osVersion": release, "associationId": ""}


def _store_packages(session: Session, image_arn: str, packages: list[dict[str, str]]) -> None:
    row = session.get(ImagePackageRow, image_arn)
    if row is None:
        session.add(ImagePackageRow(image_arn=image_arn, packages=packages))
    else:
        row.packages = packages


def sanitize_instance(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    instance = _instance(step, inputs)
    script = SANITIZE if step.run.plan.is_container else VM_SANITIZE
    text = _shell(instance, script, log=step.log_dir / "sanitize.log")
    return {"runCommandId": str(uuid.uuid4()), "status": "Success", "output": text}


def run_command(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    if inputs["documentName"] not in ("AWS-RunShellScript", "AWS-RunShellScript:$DEFAULT"):
        raise BuildError(
            f"RunCommand document '{inputs['documentName']}' is not available; "
            "Kiln runs AWS-RunShellScript"
        )
    instance = _instance(step, inputs)
    parameters = inputs.get("parameters") or {}
    output = [
        _shell(instance, str(command), log=step.log_dir / "run-command.log")
        for command in parameters.get("commands") or []
    ]
    return {"runCommandId": str(uuid.uuid4()), "status": "Success", "output": output}


# -- DistributeImage ------------------------------------------------------------------------------


def distribute_image(step: StepRun, _inputs: Mapping[str, Any]) -> dict[str, Any]:
    run = step.run
    if not run.plan.is_container:
        return distribute.distribute_amis(run)
    distributed = []
    when = distribute.build_date(run)
    for target in run.plan.container_targets:
        registry = run.config.registries.get(target.region)
        tags = tuple(
            render_container_tag(tag, build_date=when, build_version=run.build_number)
            for tag in target.tags
        )
        publish = PublishTarget(
            repository=target.repository,
            tags=tags or (f"{run.version}-{run.build_number}",),
            registry=registry,
            layout_root=None if registry else run.config.data_dir / "registry",
            tls_verify=run.config.registry_tls_verify,
        )
        uris = run.host.publish(run.output_image, publish)
        distributed.append({"region": target.region, "imageUris": uris})
    return {"distributedImages": distributed}


def modify_image_attributes(step: StepRun, inputs: Mapping[str, Any]) -> dict[str, Any]:
    if step.run.plan.is_container:
        raise BuildError(AMI_ONLY.format(action="ModifyImageAttributes"))
    return distribute.modify_image_attributes(step.run, inputs)


def apply_image_configurations(step: StepRun, _inputs: Mapping[str, Any]) -> dict[str, Any]:
    if step.run.plan.is_container:
        raise BuildError(AMI_ONLY.format(action="ApplyImageConfigurations"))
    return distribute.apply_image_configurations(step.run)


HANDLERS: Mapping[str, ActionHandler] = {
    "LaunchInstance": ActionHandler(launch_instance, terminate_on_rollback),
    "ExecuteComponents": ActionHandler(execute_components, logs=True),
    "CreateImage": ActionHandler(create_image),
    "TerminateInstance": ActionHandler(terminate_instance),
    "BootstrapInstanceForContainer": ActionHandler(bootstrap_for_container, logs=True),
    "CollectImageMetadata": ActionHandler(collect_image_metadata, logs=True),
    "CollectImageScanFindings": ActionHandler(collect_image_scan_findings, logs=True),
    "SanitizeInstance": ActionHandler(sanitize_instance, logs=True),
    "RunCommand": ActionHandler(run_command, logs=True),
    "DistributeImage": ActionHandler(distribute_image),
    "ModifyImageAttributes": ActionHandler(modify_image_attributes),
    "ApplyImageConfigurations": ActionHandler(apply_image_configurations),
}
