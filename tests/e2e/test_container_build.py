"""Container recipe → image AVAILABLE, for real: podman build instances from Kiln's managed
Debian base, a component that writes a file and installs a package from the Debian mirror,
the result pushed to a docker-registry on loopback and run with podman."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.registry import RegistryServer
from kiln.engine.context import EngineConfig
from kiln.engine.podman_host import PodmanBuildHost
from tests.e2e.support import build_client, podman_storage
from tests.unit.engine.conftest import wait_for

pytestmark = [pytest.mark.podman, pytest.mark.slow]

COMPONENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Anchor
        action: ExecuteBash
        inputs:
          commands: ["echo kiln-was-here > /etc/kiln-anchor"]
      - name: InstallJq
        action: ExecuteBash
        inputs:
          commands:
            - apt-get update -qq
            - DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq
  - name: validate
    steps:
      - name: JqRuns
        action: ExecuteBash
        inputs:
          commands: ["jq --version"]
  - name: test
    steps:
      - name: AnchorThere
        action: ExecuteBash
        inputs:
          commands: ["grep -q kiln-was-here /etc/kiln-anchor", "{{ TestCommand }}"]
parameters:
  - TestCommand:
      type: string
      default: "true"
"""


@pytest.fixture(scope="module")
def storage() -> ContainerStorage:
    return podman_storage("docker-registry")  # the build pushes to a registry on loopback


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def built(
    kiln: Kiln, admin: Any, storage: ContainerStorage, registry: RegistryServer
) -> Iterator[tuple[Any, PodmanBuildHost]]:
    host = PodmanBuildHost(storage, insecure_registries=[registry.address])
    config = EngineConfig(
        data_dir=kiln.data_dir, registries={"us-east-1": registry.address},
        registry_tls_verify=False,
    )  # fmt: skip
    with build_client(kiln, admin, host, config) as ib:
        yield ib, host


def _recipe(ib: Any, name: str, test_command: str) -> tuple[str, str]:
    component = ib.create_component(
        name=f"{name}-anchor", semanticVersion="1.0.0", platform="Linux", data=COMPONENT
    )["componentBuildVersionArn"]
    recipe = ib.create_container_recipe(
        name=name, semanticVersion="1.0.0", containerType="DOCKER", parentImage="debian:12",
        components=[{
            "componentArn": component,
            "parameters": [{"name": "TestCommand", "value": [test_command]}],
        }],
        dockerfileTemplateData=(
            "FROM {{{ imagebuilder:parentImage }}}\nENV GREETING=hello\n"
            "{{{ imagebuilder:components }}}\n"
            'CMD ["/bin/sh", "-c", "cat /etc/kiln-anchor; jq -n env.GREETING"]\n'
        ),
        targetRepository={"service": "ECR", "repositoryName": f"kiln/{name}"},
    )["containerRecipeArn"]  # fmt: skip
    infra = ib.create_infrastructure_configuration(
        name=f"{name}-infra", instanceProfileName="builder"
    )["infrastructureConfigurationArn"]
    return recipe, infra


def test_container_recipe_builds_pushes_and_runs(
    built: tuple[Any, PodmanBuildHost], storage: ContainerStorage, registry: RegistryServer
) -> None:
    ib, host = built
    recipe, infra = _recipe(ib, "anchor", "true")
    started = time.monotonic()
    arn = ib.create_image(containerRecipeArn=recipe, infrastructureConfigurationArn=infra)[
        "imageBuildVersionArn"
    ]
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"}, timeout=600)
    elapsed = time.monotonic() - started
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    (pushed,) = image["outputResources"]["containers"]
    assert pushed["imageUris"] == [f"{registry.address}/kiln/anchor:1.0.0-1"]
    done = storage.run(
        ["podman", "run", "--rm", "--tls-verify=false", pushed["imageUris"][0]], timeout=300
    )
    assert done.text.split() == ["kiln-was-here", '"hello"']
    assert not host.launcher.list_instances({"kiln.image": arn})
    print(f"container build to AVAILABLE in {elapsed:.1f}s")


def test_a_failing_test_phase_fails_the_image_naming_the_step(
    built: tuple[Any, PodmanBuildHost],
) -> None:
    ib, host = built
    recipe, infra = _recipe(ib, "broken", "false")
    arn = ib.create_image(containerRecipeArn=recipe, infrastructureConfigurationArn=infra)[
        "imageBuildVersionArn"
    ]
    image = wait_for(ib, arn, {"AVAILABLE", "FAILED"}, timeout=600)
    assert image["state"]["status"] == "FAILED"
    assert "ApplyTestComponents" in image["state"]["reason"], image["state"]
    assert not host.launcher.list_instances({"kiln.image": arn})
