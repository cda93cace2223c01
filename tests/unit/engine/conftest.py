"""A Kiln serving the build operations (builds.py in a local registry), a FakeBuildHost, and
a ThreadExecutor with short leases; helpers that create a container recipe and wait."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.cli.serving import background_server
from kiln.engine.context import EngineConfig
from kiln.engine.fakes import FakeBuildHost
from kiln.executors.threads import ThreadExecutor
from kiln.protocol.model import service_model
from kiln.services import imagebuilder
from kiln.services.dispatch import ServiceRegistry
from kiln.services.imagebuilder import builds
from tests.conftest import client_for, make_instance_profile

COMPONENT = """schemaVersion: 1.0
parameters:
  - Greeting:
      type: string
      default: hello
phases:
  - name: build
    steps:
      - name: Write
        action: ExecuteBash
        inputs:
          commands: ["echo {{ Greeting }} > /greeting"]
  - name: test
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands: ["test -f /greeting"]
"""
WAITING_BUILD = """schemaVersion: 1.0
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: ApplyBuildComponents
    action: ExecuteComponents
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
  - name: Approve
    action: WaitForAction
  - name: TerminateBuildInstance
    action: TerminateInstance
    onFailure: Continue
    inputs:
      instanceId.$: "$.stepOutputs.LaunchBuildInstance.instanceId"
"""


def build_registry() -> ServiceRegistry:
    names = service_model("imagebuilder").operation_names
    return ServiceRegistry.collect(
        "imagebuilder", names, (*imagebuilder.FAMILIES, builds), planned={}
    )


@pytest.fixture
def host() -> FakeBuildHost:
    return FakeBuildHost()


@pytest.fixture
def make_executor(kiln: Kiln, host: FakeBuildHost) -> Iterator[Callable[..., ThreadExecutor]]:
    made: list[ThreadExecutor] = []

    def make(lease: float = 2.0) -> ThreadExecutor:
        config = EngineConfig(data_dir=kiln.data_dir, poll_interval=0.05)
        executor = ThreadExecutor(
            kiln.database, host, config, workers=1,
            lease=dt.timedelta(seconds=lease), idle_wait=0.05,
        )  # fmt: skip
        made.append(executor)
        return executor

    yield make
    if host.gate is not None:
        host.gate.set()
    for executor in made:
        executor.stop(timeout=10)


@pytest.fixture
def ib(kiln: Kiln, admin: Any) -> Iterator[Any]:
    kiln.registries["imagebuilder"] = build_registry()
    with background_server(kiln) as url:
        make_instance_profile(url, admin, "builder")
        yield client_for(url, admin)


def container_recipe(
    ib: Any, *, name: str = "app", template: str | None = None, component: str = COMPONENT
) -> dict[str, str]:
    """A component, a container recipe using it, and an infrastructure configuration."""
    component_arn = ib.create_component(
        name=f"{name}-greeting", semanticVersion="1.0.0", platform="Linux", data=component
    )["componentBuildVersionArn"]
    recipe_arn = ib.create_container_recipe(
        name=name,
        semanticVersion="1.0.0",
        containerType="DOCKER",
        parentImage="debian:12",
        components=[
            {
                "componentArn": component_arn,
                "parameters": [{"name": "Greeting", "value": ["bonjour"]}],
            }
        ],
        dockerfileTemplateData=template
        or (
            "FROM {{{ imagebuilder:parentImage }}}\nENV MODE=prod\nWORKDIR /srv\n"
            "{{{ imagebuilder:components }}}\nRUN echo built > /srv/marker\n"
            'LABEL team="kiln"\nEXPOSE 8080\nCMD ["/bin/sh"]\n'
        ),
        targetRepository={"service": "ECR", "repositoryName": f"kiln/{name}"},
    )["containerRecipeArn"]
    infra_arn = ib.create_infrastructure_configuration(
        name=f"{name}-infra", instanceProfileName="builder", instanceTypes=["t3.small"]
    )["infrastructureConfigurationArn"]
    return {"recipe": recipe_arn, "infra": infra_arn, "component": component_arn}


def wait_for(ib: Any, arn: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    image: dict[str, Any] = {}
    while time.monotonic() < deadline:
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] in statuses:
            return image
        time.sleep(0.05)
    raise AssertionError(f"{arn} stayed {image.get('state')}; wanted {statuses}")


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")
