"""AMI builds through the engine (FakeBuildHost); QemuBuildHost's parents, captures and sweeps
over the registry (a fake AmiLookup) and the region stores, and the reboot wait (no VM is booted
here: qemu-img makes the disks)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kiln import process
from kiln.amis import registry as ami_registry
from kiln.amis.disks import DirectoryStore
from kiln.amis.registry import Ami
from kiln.amis.stores import ImageStores
from kiln.app import Kiln
from kiln.core.clock import utcnow
from kiln.core.errors import BuildError
from kiln.engine import actions, ledger
from kiln.engine.fakes import FakeBuildHost
from kiln.engine.vm_host import AmiNotFoundError, QemuBuildHost
from kiln.engine.vm_routing import ImageTypeRouter
from kiln.instances.base import LaunchSpec
from kiln.instances.qemu import QemuInstance
from kiln.instances.qemu_agent import AgentError, QemuCommunicator
from tests.unit.engine.conftest import wait_for

PARENT = "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x"
COMPONENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Anchor
        action: ExecuteBash
        inputs:
          commands: ["echo built > /etc/kiln-anchor"]
  - name: test
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands: ["grep -q built /etc/kiln-anchor"]
"""


def _image_recipe(ib: Any, name: str = "vmapp") -> dict[str, str]:
    component = ib.create_component(
        name=f"{name}-anchor", semanticVersion="1.0.0", platform="Linux", data=COMPONENT
    )["componentBuildVersionArn"]
    recipe = ib.create_image_recipe(
        name=name, semanticVersion="1.0.0", parentImage=PARENT,
        components=[{"componentArn": component}],
    )["imageRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(
        name=f"{name}-infra", instanceProfileName="builder", instanceTypes=["t3.small"]
    )["infrastructureConfigurationArn"]
    return {"recipe": recipe, "infra": infra}


def _steps(ib: Any, arn: str) -> dict[str, dict[str, dict[str, Any]]]:
    found = {}
    for execution in ib.list_workflow_executions(imageBuildVersionArn=arn)["workflowExecutions"]:
        steps = ib.list_workflow_step_executions(
            workflowExecutionId=execution["workflowExecutionId"]
        )["steps"]
        found[execution["type"]] = {s["name"]: s for s in steps}
    return found


def test_ami_build_launches_from_the_parent_creates_an_ami_and_tests_it(
    ib: Any, make_executor: Any, host: FakeBuildHost, kiln: Kiln
) -> None:
    made = _image_recipe(ib)
    arn = ib.create_image(
        imageRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["type"] == "AMI"
    (ami,) = image["outputResources"]["amis"]
    assert ami["image"].startswith("ami-") and len(ami["image"]) == 21
    assert ami["region"] == "us-east-1" and ami["name"] == "vmapp 1.0.0-1"
    assert ami["accountId"] == arn.split(":")[4] and ami["state"] == {"status": "AVAILABLE"}
    ((build_id, committed, changes),) = host.commits
    assert committed == ami["image"]
    assert f"image={arn}" in changes and "region=us-east-1" in changes
    build = host.instances[build_id]
    assert build.image == PARENT and build.instance_type == "t3.small"
    commands = [" ".join(argv) for argv in build.comm.argvs()]
    assert any("dpkg-query" in c for c in commands), commands
    assert any("/etc/ssh/ssh_host_" in c and "machine-id" in c for c in commands), commands
    (test,) = [i for i in host.instances.values() if i.id != build_id]
    assert test.image == ami["image"]
    assert not host.running()
    assert ami["image"] not in host.removed_images  # released, not swept
    with kiln.database.transaction() as session:
        assert not ledger.outstanding(session, arn)
    steps = _steps(ib, arn)
    assert steps["BUILD"]["CreateOutputAMI"]["status"] == "COMPLETED"
    assert steps["BUILD"]["RunSanitizeScript"]["status"] == "COMPLETED"
    assert steps["TEST"]["ApplyTestComponents"]["status"] == "COMPLETED"


def test_a_failing_ami_test_fails_the_image_and_removes_the_ami(
    ib: Any, make_executor: Any, host: FakeBuildHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _image_recipe(ib, "broken")
    monkeypatch.setattr(actions, "ami_id", lambda: "ami-0000000000000000b")
    host.script(["bash"], 1, image="ami-0000000000000000b")  # the test instance's components
    arn = ib.create_image(
        imageRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "FAILED"
    assert "ApplyTestComponents" in image["state"]["reason"], image["state"]
    ((_build, ami, _changes),) = host.commits
    assert ami == "ami-0000000000000000b" and ami in host.removed_images
    assert not host.running()


def test_a_failed_capture_leaves_no_ami_row(
    ib: Any, make_executor: Any, host: FakeBuildHost, kiln: Kiln, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _image_recipe(ib, "uncaptured")
    monkeypatch.setattr(actions, "ami_id", lambda: "ami-0000000000000000c")
    seen: list[str] = []

    def commit(instance_id: str, *, image: str, changes: Any) -> str:
        with kiln.database.transaction() as session:  # registered pending before the capture
            seen.append(ami_registry.get(session, image).state)  # type: ignore[union-attr]
        raise BuildError("the disk could not be captured")

    monkeypatch.setattr(host, "commit", commit)
    arn = ib.create_image(
        imageRecipeArn=made["recipe"], infrastructureConfigurationArn=made["infra"]
    )["imageBuildVersionArn"]
    with make_executor():
        image = wait_for(ib, arn, {"AVAILABLE", "FAILED"})
    assert image["state"]["status"] == "FAILED" and seen == ["pending"]
    assert "ami-0000000000000000c" in host.removed_images
    with kiln.database.transaction() as session:
        assert ami_registry.get(session, "ami-0000000000000000c") is None
        assert not ledger.outstanding(session, arn)


# -- QemuBuildHost without booting ----------------------------------------------------------

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")


def _qcow2(path: Path) -> Path:
    process.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], timeout=60)
    return path


@dataclass
class FakeAmis:
    """The AmiLookup port over a dict."""

    rows: dict[str, Ami] = field(default_factory=dict)

    def get(self, ami_id: str) -> Ami | None:
        return self.rows.get(ami_id)

    def add(self, ami_id: str, region: str, account: str = "111122223333", **more: Any) -> Ami:
        ami = Ami(
            ami_id=ami_id, account=account, region=region, name=f"{ami_id} name",
            disk=ImageStores.relative(region, ami_id), created_at=utcnow(), **more,
        )  # fmt: skip
        self.rows[ami_id] = ami
        return ami


@dataclass
class StoppedInstance:
    """What commit asks of a QemuInstance, over a real overlay file (no VM)."""

    directory: Path
    agent_packages: tuple[str, ...] = ("qemu-guest-agent",)
    image: str = "ami-0000000000000000a"
    calls: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.directory.name

    @property
    def overlay(self) -> Path:
        return self.directory / "overlay.qcow2"

    def shutdown(self) -> bool:
        self.calls.append("shutdown")
        return True

    def remove_agent(self) -> None:
        self.calls.append("remove_agent")

    def terminate(self) -> None:
        self.calls.append("terminate")


def _host(tmp_path: Path, amis: FakeAmis, **regions: Path) -> QemuBuildHost:
    stores = ImageStores.under(
        tmp_path / "data", {r.replace("_", "-"): DirectoryStore(d) for r, d in regions.items()}
    )
    return QemuBuildHost(tmp_path / "store", tmp_path / "run", amis=amis, stores=stores)


@needs_qemu_img
def test_parents_resolve_through_the_registry_and_the_region_stores(tmp_path: Path) -> None:
    amis = FakeAmis()
    host = _host(tmp_path, amis, eu_west_1=tmp_path / "eu-store")
    image_arn = "arn:aws:imagebuilder:eu-west-1:111122223333:image/app/1.0.0/1"
    amis.add("ami-0123456789abcdef0", "eu-west-1", image_arn=image_arn)
    disk = tmp_path / "eu-store/eu-west-1/ami-0123456789abcdef0.qcow2"
    disk.parent.mkdir(parents=True)
    _qcow2(disk)
    assert host.resolve_parent("ami-0123456789abcdef0") == "ami-0123456789abcdef0"
    with pytest.raises(AmiNotFoundError, match="debian-12-x86"):
        host.resolve_parent(image_arn)  # the build request resolves it to its AMI first
    assert host._disk("ami-0123456789abcdef0") == disk  # the region's own store
    with pytest.raises(AmiNotFoundError):
        host.resolve_parent("ami-fffffffffffffffff")
    with pytest.raises(AmiNotFoundError):
        host._disk("ami-fffffffffffffffff")
    with pytest.raises(AmiNotFoundError, match="debian-12-x86"):
        host.resolve_parent("arn:aws:imagebuilder:eu-west-1:111122223333:image/nope/1.0.0/1")


@needs_qemu_img
def test_commit_captures_into_the_build_regions_store_and_hands_over_its_manifest(
    tmp_path: Path,
) -> None:
    amis = FakeAmis()
    host = _host(tmp_path, amis, eu_west_1=tmp_path / "eu-store")
    instance = StoppedInstance(tmp_path / "run/i-0000000000000000c")
    instance.directory.mkdir(parents=True)
    _qcow2(instance.overlay)
    host._live[instance.id] = instance  # type: ignore[assignment]
    ami = "ami-0123456789abcdef2"
    changes = ("region=eu-west-1", "account=111122223333", "name=app 1.0.0-1", "image=x")
    assert host.commit(instance.id, image=ami, changes=changes) == ami
    disk = tmp_path / f"eu-store/eu-west-1/{ami}.qcow2"
    info = json.loads(
        process.run(["qemu-img", "info", "--output=json", str(disk)], timeout=60).stdout
    )
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert instance.calls == ["shutdown", "remove_agent", "terminate"]
    assert not list((tmp_path / "store/captures").iterdir())  # the temporary file moved in
    assert not list(tmp_path.rglob("*.json"))  # no sidecar manifests
    assert host.capture_manifest(ami) == {
        "parent": "ami-0000000000000000a",
        "sourceInstance": instance.id,
        "cleanShutdown": True,
        "agent": {"installedByKiln": ["qemu-guest-agent"], "removed": True},
    }
    assert host.capture_manifest(ami) == {}  # handed over once
    amis.add(ami, "eu-west-1")
    (tmp_path / f"store/captures/{ami}.qcow2.partial").write_bytes(b"half")
    host.remove_image(ami)  # the ledger sweep: the disk found through the row
    assert not disk.exists() and not list((tmp_path / "store/captures").iterdir())


def test_a_failed_capture_fails_the_build_and_leaves_no_disk(tmp_path: Path) -> None:
    host = _host(tmp_path, FakeAmis())
    instance = StoppedInstance(tmp_path / "run/i-0000000000000000d")
    instance.directory.mkdir(parents=True)
    host._live[instance.id] = instance  # type: ignore[assignment]
    with pytest.raises(BuildError, match="could not be captured"):  # no overlay to convert
        host.commit(instance.id, image="ami-0123456789abcdef3", changes=("region=us-east-1",))
    assert instance.calls[-1] == "terminate"
    assert not (tmp_path / "data/amis/us-east-1/ami-0123456789abcdef3.qcow2").exists()
    assert host.capture_manifest("ami-0123456789abcdef3") == {}


def test_remove_instances_destroys_the_labelled_instances_only(tmp_path: Path) -> None:
    run = tmp_path / "run"
    host = _host(tmp_path, FakeAmis())
    for instance_id, token in (("i-00000000000000001", "a"), ("i-00000000000000002", "b")):
        (run / instance_id).mkdir(parents=True)
        meta = {"labels": {"kiln.build": token}}
        (run / instance_id / "instance.json").write_text(json.dumps(meta))
    host.remove_instances("kiln.build=a")
    assert sorted(p.name for p in run.iterdir()) == ["i-00000000000000002"]
    assert host.attach("i-00000000000000002") is None  # not running
    assert "console.log" in host.shell_hint("i-00000000000000002")


def test_the_router_sends_ami_work_to_the_vm_host_and_the_rest_to_containers() -> None:
    containers, vms = FakeBuildHost(), FakeBuildHost()
    router = ImageTypeRouter(container=containers, vm=vms)
    assert router.resolve_parent(PARENT) == PARENT  # the fake answers references as they are
    vm = router.launch(image=PARENT, instance_type="t3.small", labels={"kiln.build": "x"})
    box = router.launch(image="localhost/kiln/debian:12", instance_type="t3.micro", labels={})
    assert list(vms.instances) == [vm.id] and list(containers.instances) == [box.id]
    assert router.attach(vm.id) is vm and router.attach(box.id) is box
    router.commit(vm.id, image="ami-0000000000000000a", changes=())
    router.commit(box.id, image="localhost/kiln/build/app:1", changes=())
    assert [c[1] for c in vms.commits] == ["ami-0000000000000000a"]
    assert [c[1] for c in containers.commits] == ["localhost/kiln/build/app:1"]
    router.remove_image("ami-0000000000000000a")
    assert vms.removed_images == ["ami-0000000000000000a"] and not containers.removed_images
    router.remove_instances("kiln.build=x")
    assert vm.terminated and not box.terminated


class GoneAfterReboot:
    """A guest agent that answers one boot id, then never again."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def call(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        if command == "guest-file-open":
            return 1
        if command == "guest-file-read":
            return {"buf-b64": "Ym9vdC0x", "count": 6, "eof": True}  # "boot-1"
        return {}

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> None:
        self.sent.append(command)

    def wait_ready(self, timeout: float, **_: Any) -> float:
        raise AgentError("no answer")

    def close(self) -> None:
        pass


def test_the_reboot_wait_follows_the_launchers_boot_timeout(tmp_path: Path) -> None:
    spec = LaunchSpec(image="ami-0123456789abcdef0", instance_type="t3.small")
    made = QemuInstance._create(
        tmp_path, spec, tmp_path / "parent.qcow2", lifetime=60, boot_timeout=2
    )
    try:
        assert made.communicator.reboot_timeout == 2
        assert made.image == "ami-0123456789abcdef0"
        meta = json.loads((made.directory / "instance.json").read_text())
        with (made.directory / "owner.lock").open("a") as owner:  # another process adopts it
            assert QemuInstance(made.directory, owner, meta).communicator.reboot_timeout == 2
    finally:
        made.terminate()
    communicator = QemuCommunicator(GoneAfterReboot(), reboot_timeout=0.5)  # type: ignore[arg-type]
    with pytest.raises(AgentError, match=r"within 0\.5s"):
        communicator.reboot()
    assert communicator.agent.sent == ["guest-shutdown"]  # type: ignore[attr-defined]
