"""A new user's first pipeline, with nothing but the AWS CLI against a live Kiln: an instance
profile whose role holds the managed policies AWS's container-build prerequisites name (aws
iam), a component that writes a file and installs jq, a container recipe, an infrastructure
and a distribution configuration pushing to the region's registry (a docker-registry on
loopback), a pipeline, a run, then the pushed image pulled and run with podman. The same with a
failing test phase ends FAILED naming the step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import ensure_debian_image
from kiln.artifacts.registry import RegistryServer
from kiln.cli.serving import background_server
from kiln.instances.podman import PodmanLauncher, podman_unavailable_reason
from kiln.settings import Settings

pytestmark = [pytest.mark.podman, pytest.mark.slow]

STATE_DIR = Path(
    os.environ.get("KILN_TEST_STATE_DIR", Path.home() / ".cache" / "kiln-test" / "containers")
)
AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
POLICIES = (
    "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilder",
    "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilderECRContainerBuilds",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
COMPONENT = """schemaVersion: 1.0
parameters:
  - TestCommand:
      type: string
      default: "true"
phases:
  - name: build
    steps:
      - name: WriteMotd
        action: ExecuteBash
        inputs:
          commands: ["echo built-by-kiln > /etc/kiln-motd"]
      - name: InstallJq
        action: ExecuteBash
        inputs:
          commands:
            - apt-get update -qq
            - DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq
  - name: test
    steps:
      - name: MotdThere
        action: ExecuteBash
        inputs:
          commands: ["grep -q built-by-kiln /etc/kiln-motd", "{{ TestCommand }}"]
"""
DOCKERFILE = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:components }}}\n"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def storage() -> ContainerStorage:
    if AWS is None:
        _skip_or_fail("the AWS CLI is not installed")
    storage = ContainerStorage.at(STATE_DIR)
    reason = podman_unavailable_reason(storage)
    if reason:
        _skip_or_fail(f"podman build instances unavailable: {reason}")
    if shutil.which("docker-registry") is None:
        _skip_or_fail("docker-registry is not installed (scripts/debian-packages.txt)")
    ensure_debian_image(storage, "12")  # cached after the first run on a machine
    return storage


@dataclass
class Cli:
    """`aws ...` as a user types it, against one Kiln."""

    endpoint: str
    env: dict[str, str]
    files: Path

    def __call__(self, *args: str, check: bool = True) -> Any:
        done = subprocess.run(
            [str(AWS), *args, "--endpoint-url", self.endpoint, "--output", "json"],
            capture_output=True, text=True, env=self.env, timeout=120, check=False,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
            return json.loads(done.stdout) if done.stdout.strip() else {}
        return done

    def file(self, name: str, content: str) -> str:
        path = self.files / name
        path.write_text(content, encoding="utf-8")
        return f"file://{path}"


@pytest.fixture(scope="module")
def aws(
    storage: ContainerStorage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cli, RegistryServer]]:
    root = tmp_path_factory.mktemp("cli-pipeline")
    with RegistryServer(root / "registry") as registry:
        settings = Settings.load(
            environ={}, data_dir=root / "kiln", containers_dir=STATE_DIR,
            registries=f"us-east-1={registry.address}", build_workers=1,
        )  # fmt: skip
        kiln = Kiln(settings)
        try:
            kiln.start_builds()
            admin = kiln.admin_credentials()
            with background_server(kiln) as url:
                env = {
                    **os.environ,
                    "AWS_ACCESS_KEY_ID": admin.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": "/dev/null",
                    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    "AWS_PAGER": "",
                }
                cli = Cli(url, env, root)
                _instance_profile(cli)
                yield cli, registry
        finally:
            kiln.close()


def _instance_profile(aws: Cli) -> None:
    trust = aws.file("trust.json", json.dumps(TRUST))
    aws("iam", "create-role", "--role-name", "builder", "--assume-role-policy-document", trust)
    for policy in POLICIES:
        aws("iam", "attach-role-policy", "--role-name", "builder", "--policy-arn", policy)
    aws("iam", "create-instance-profile", "--instance-profile-name", "builder")
    aws("iam", "add-role-to-instance-profile", "--instance-profile-name", "builder",
        "--role-name", "builder")  # fmt: skip


def _pipeline(aws: Cli, name: str, *, test_command: str) -> str:
    """Component, recipe, infrastructure, distribution, pipeline; returns the pipeline ARN."""
    component = aws(
        "imagebuilder", "create-component", "--name", f"{name}-motd", "--semantic-version",
        "1.0.0", "--platform", "Linux", "--data", aws.file(f"{name}.yaml", COMPONENT),
    )["componentBuildVersionArn"]  # fmt: skip
    components = [
        {"componentArn": component,
         "parameters": [{"name": "TestCommand", "value": [test_command]}]}
    ]  # fmt: skip
    recipe = aws(
        "imagebuilder", "create-container-recipe", "--name", name, "--semantic-version", "1.0.0",
        "--container-type", "DOCKER", "--parent-image", "debian:12",
        "--components", json.dumps(components), "--dockerfile-template-data", DOCKERFILE,
        "--target-repository", f"service=ECR,repositoryName=kiln/{name}",
    )["containerRecipeArn"]  # fmt: skip
    infra = aws(
        "imagebuilder", "create-infrastructure-configuration", "--name", f"{name}-infra",
        "--instance-profile-name", "builder",
    )["infrastructureConfigurationArn"]  # fmt: skip
    distributions = [
        {
            "region": "us-east-1",
            "containerDistributionConfiguration": {
                "targetRepository": {"service": "ECR", "repositoryName": f"shipped/{name}"},
                "containerTags": ["latest", "stable"],
            },
        }
    ]
    distribution = aws(
        "imagebuilder", "create-distribution-configuration", "--name", f"{name}-dist",
        "--distributions", json.dumps(distributions),
    )["distributionConfigurationArn"]  # fmt: skip
    return str(
        aws(
            "imagebuilder", "create-image-pipeline", "--name", f"{name}-pipeline",
            "--container-recipe-arn", recipe, "--infrastructure-configuration-arn", infra,
            "--distribution-configuration-arn", distribution,
        )["imagePipelineArn"]
    )  # fmt: skip


def _run_to_end(aws: Cli, pipeline: str, timeout: float = 900) -> dict[str, Any]:
    arn = aws("imagebuilder", "start-image-pipeline-execution", "--image-pipeline-arn", pipeline)[
        "imageBuildVersionArn"
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        image: dict[str, Any] = aws("imagebuilder", "get-image", "--image-build-version-arn", arn)[
            "image"
        ]
        if image["state"]["status"] in ("AVAILABLE", "FAILED", "CANCELLED"):
            return image
        time.sleep(2)
    raise AssertionError(f"{arn} did not finish in {timeout}s")


def test_a_pipeline_built_with_the_aws_cli_pushes_an_image_that_runs(
    aws: tuple[Cli, RegistryServer], storage: ContainerStorage
) -> None:
    cli, registry = aws
    pipeline = _pipeline(cli, "motd", test_command="jq --version")
    started = time.monotonic()
    image = _run_to_end(cli, pipeline)
    elapsed = time.monotonic() - started
    assert image["state"]["status"] == "AVAILABLE", image["state"]
    assert image["sourcePipelineArn"] == pipeline
    uris = {uri for c in image["outputResources"]["containers"] for uri in c["imageUris"]}
    shipped = f"{registry.address}/shipped/motd:latest"
    assert uris == {
        f"{registry.address}/kiln/motd:1.0.0-1",
        shipped,
        f"{registry.address}/shipped/motd:stable",
    }
    storage.run(["podman", "rmi", "--ignore", shipped], timeout=120)
    ran = storage.run(
        ["podman", "run", "--rm", "--pull=always", "--tls-verify=false", shipped,
         "sh", "-c", "cat /etc/kiln-motd && echo '{\"a\": 41}' | jq '.a + 1'"],
        timeout=300,
    )  # fmt: skip
    assert ran.text.split() == ["built-by-kiln", "42"]
    runs = cli("imagebuilder", "get-image-pipeline", "--image-pipeline-arn", pipeline)
    assert runs["imagePipeline"]["name"] == "motd-pipeline"
    assert not PodmanLauncher(storage).list_instances({"kiln.image": image["arn"]})
    print(f"AWS CLI pipeline run to AVAILABLE in {elapsed:.1f}s")


def test_a_failing_test_phase_ends_failed_naming_the_step(
    aws: tuple[Cli, RegistryServer], storage: ContainerStorage
) -> None:
    cli, _registry = aws
    pipeline = _pipeline(cli, "broken", test_command="false")
    image = _run_to_end(cli, pipeline)
    assert image["state"]["status"] == "FAILED", image["state"]
    reason = image["state"]["reason"]
    assert "ApplyTestComponents" in reason and "MotdThere" in reason, reason
    assert not PodmanLauncher(storage).list_instances({"kiln.image": image["arn"]})
