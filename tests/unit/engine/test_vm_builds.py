"""AMI builds through the engine (FakeBuildHost), and QemuBuildHost's AMI store and sweeps
(no VM is booted here: qemu-img makes the disks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from kiln import process
from kiln.app import Kiln
from kiln.engine import actions, ledger
from kiln.engine.fakes import FakeBuildHost
from kiln.engine.vm_host import AmiNotFoundError, QemuBuildHost
from kiln.engine.vm_routing import ImageTypeRouter
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
    assert ami["accountId"] == arn.split(":")[4]
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


# -- QemuBuildHost without booting ----------------------------------------------------------

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")


def _qcow2(path: Path) -> Path:
    process.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], timeout=60)
    return path


@needs_qemu_img
def test_the_ami_store_registers_finds_and_removes_amis(tmp_path: Path) -> None:
    host = QemuBuildHost(tmp_path / "store", tmp_path / "run", data_dir=tmp_path / "data")
    image_arn = "arn:aws:imagebuilder:eu-west-1:111122223333:image/app/1.0.0/1"
    ami = host.amis.register(
        "ami-0123456789abcdef0", "eu-west-1", _qcow2(tmp_path / "overlay.qcow2"),
        {"name": "app 1.0.0-1", "imageArn": image_arn},
    )  # fmt: skip
    assert ami.disk == tmp_path / "data/amis/eu-west-1/ami-0123456789abcdef0.qcow2"
    manifest = json.loads(ami.disk.with_suffix(".json").read_text())
    assert manifest["region"] == "eu-west-1" and manifest["name"] == "app 1.0.0-1"
    assert host.resolve_parent("ami-0123456789abcdef0") == "ami-0123456789abcdef0"
    assert host.resolve_parent(image_arn) == "ami-0123456789abcdef0"
    assert host._disk("ami-0123456789abcdef0") == ami.disk
    with pytest.raises(AmiNotFoundError):
        host.resolve_parent("ami-fffffffffffffffff")
    with pytest.raises(AmiNotFoundError, match="debian-12-x86"):
        host.resolve_parent("arn:aws:imagebuilder:eu-west-1:111122223333:image/nope/1.0.0/1")
    host.remove_image("ami-0123456789abcdef0")
    assert not ami.disk.exists() and not ami.disk.with_suffix(".json").exists()


def test_remove_instances_destroys_the_labelled_instances_only(tmp_path: Path) -> None:
    run = tmp_path / "run"
    host = QemuBuildHost(tmp_path / "store", run, data_dir=tmp_path / "data")
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
