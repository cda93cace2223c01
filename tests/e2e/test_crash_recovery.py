"""`kiln serve` killed with SIGKILL in the middle of a build, then started again on the same
data directory: the build is failed promptly (the dead server process is seen at start, without
waiting for its lease) with a reason saying Kiln stopped, and its build container is removed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.instances.podman import PodmanLauncher
from kiln.settings import Settings
from tests.conftest import client_for, make_instance_profile
from tests.e2e.support import PROMPT, Server, server_process, wait_until

pytestmark = [pytest.mark.podman, pytest.mark.slow]

SLEEPER = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Nap
        action: ExecuteBash
        inputs:
          commands: ["touch /napping", "sleep 900"]
"""


@pytest.fixture
def server(tmp_path: Path, storage: ContainerStorage) -> Iterator[Server]:
    with server_process(tmp_path) as made:
        yield made


def test_a_build_interrupted_by_sigkill_fails_on_restart_and_leaves_no_container(
    server: Server, storage: ContainerStorage
) -> None:
    kiln = Kiln(Settings.load(environ={}, data_dir=server.data_dir))
    admin = kiln.admin_credentials()
    kiln.close()
    url = server.start()
    make_instance_profile(url, admin, "builder")
    ib = client_for(url, admin)
    component = ib.create_component(
        name="sleeper", semanticVersion="1.0.0", platform="Linux", data=SLEEPER
    )["componentBuildVersionArn"]
    recipe = ib.create_container_recipe(
        name="sleepy", semanticVersion="1.0.0", containerType="DOCKER", parentImage="debian:12",
        components=[{"componentArn": component}],
        dockerfileTemplateData="FROM {{{ imagebuilder:parentImage }}}\n"
        "{{{ imagebuilder:components }}}\n",
        targetRepository={"service": "ECR", "repositoryName": "kiln/sleepy"},
    )["containerRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(
        name="sleepy-infra", instanceProfileName="builder"
    )["infrastructureConfigurationArn"]
    arn = ib.create_image(containerRecipeArn=recipe, infrastructureConfigurationArn=infra)[
        "imageBuildVersionArn"
    ]
    launcher = PodmanLauncher(storage)
    try:
        wait_until(
            lambda: (
                ib.get_image(imageBuildVersionArn=arn)["image"]["state"]["status"] == "BUILDING"
            ),
            "BUILDING",
            300,
        )
        (instance,) = wait_until(
            lambda: launcher.list_instances({"kiln.image": arn}), "a container", 300
        )
        assert instance.labels.get("kiln.build")
        napping = ["podman", "exec", instance.container, "test", "-f", "/napping"]
        wait_until(
            lambda: storage.run(napping, timeout=60, check=False).returncode == 0, "nap", 300
        )

        server.kill()
        survivors = launcher.list_instances({"kiln.image": arn})
        assert [r.status for r in survivors] == ["running"]  # the crash left it behind

        restarted = time.monotonic()
        ib = client_for(server.start(), admin)
        image = wait_until(
            lambda: (
                (got := ib.get_image(imageBuildVersionArn=arn)["image"])["state"]["status"]
                == "FAILED"
                and got
            ),
            "FAILED",
            PROMPT,
        )
        elapsed = time.monotonic() - restarted
        assert "Kiln stopped during the build" in image["state"]["reason"], image["state"]
        assert launcher.list_instances({"kiln.image": arn}) == []
        print(f"interrupted build failed and swept {elapsed:.1f}s after the restart")
    finally:
        launcher.remove_leftovers({"kiln.image": arn})
