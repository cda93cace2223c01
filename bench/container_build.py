"""Time a container build end to end with Kiln, next to buildah doing the same work, in one run.

The job: FROM Kiln's managed Debian 12 base, install jq from the Debian mirror, write
/etc/kiln-anchor, push the image to a docker-registry on loopback.

- Kiln: CreateImage of a container recipe through boto3 → AVAILABLE (build instance, the
  component's build and validate phases, commit, the test phase in a container of the result,
  push), timed from the API call to AVAILABLE.
- Peer: `buildah bud --isolation chroot` of the equivalent Dockerfile plus `buildah push`.

Usage: .venv/bin/python bench/container_build.py [--runs N]
Prints each run's seconds and the medians' ratio. Needs podman, buildah, docker-registry.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import boto3

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import ensure_debian_image
from kiln.artifacts.registry import RegistryServer
from kiln.cli.serving import background_server
from kiln.process import run
from kiln.settings import Settings

STATE = Path(os.environ.get("KILN_TEST_STATE_DIR", Path.home() / ".cache/kiln-test/containers"))
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
  - name: test
    steps:
      - name: JqThere
        action: ExecuteBash
        inputs:
          commands: ["jq --version", "grep -q kiln-was-here /etc/kiln-anchor"]
"""
DOCKERFILE = """FROM localhost/kiln/debian:12
RUN echo kiln-was-here > /etc/kiln-anchor
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
    --no-install-recommends jq
"""
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "ec2.amazonaws.com"},
        }
    ],
}


def kiln_builds(runs: int, registry: RegistryServer, work: Path) -> list[float]:
    settings = Settings.load(
        environ={},
        data_dir=work / "kiln",
        containers_dir=STATE,
        registries=f"us-east-1={registry.address}",
    )
    kiln = Kiln(settings)
    times = []
    try:
        kiln.start_builds()
        with background_server(kiln) as url:
            key = kiln.admin_credentials()
            session = boto3.session.Session(
                aws_access_key_id=key.access_key_id,
                aws_secret_access_key=key.secret_access_key,
                region_name="us-east-1",
            )
            iam = session.client("iam", endpoint_url=url)
            iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(TRUST))
            for policy in (
                "EC2InstanceProfileForImageBuilderECRContainerBuilds",
                "AmazonSSMManagedInstanceCore",
            ):
                iam.attach_role_policy(
                    RoleName="bench", PolicyArn=f"arn:aws:iam::aws:policy/{policy}"
                )
            iam.create_instance_profile(InstanceProfileName="bench")
            iam.add_role_to_instance_profile(InstanceProfileName="bench", RoleName="bench")
            ib = session.client("imagebuilder", endpoint_url=url)
            component = ib.create_component(
                name="bench", semanticVersion="1.0.0", platform="Linux", data=COMPONENT
            )
            recipe = ib.create_container_recipe(
                name="bench",
                semanticVersion="1.0.0",
                containerType="DOCKER",
                parentImage="debian:12",
                components=[{"componentArn": component["componentBuildVersionArn"]}],
                dockerfileTemplateData="FROM {{{ imagebuilder:parentImage }}}\n"
                "{{{ imagebuilder:components }}}\n",
                targetRepository={"service": "ECR", "repositoryName": "bench/kiln"},
            )["containerRecipeArn"]
            infra = ib.create_infrastructure_configuration(
                name="bench", instanceProfileName="bench"
            )["infrastructureConfigurationArn"]
            for _ in range(runs):
                started = time.monotonic()
                arn = ib.create_image(
                    containerRecipeArn=recipe, infrastructureConfigurationArn=infra
                )["imageBuildVersionArn"]
                while True:
                    state = ib.get_image(imageBuildVersionArn=arn)["image"]["state"]
                    if state["status"] in ("AVAILABLE", "FAILED", "CANCELLED"):
                        break
                    time.sleep(0.2)
                if state["status"] != "AVAILABLE":
                    raise SystemExit(f"Kiln build ended {state}")
                times.append(time.monotonic() - started)
    finally:
        kiln.close()
    return times


def buildah_builds(
    runs: int, registry: RegistryServer, work: Path, storage: ContainerStorage
) -> list[float]:
    context = work / "context"
    context.mkdir()
    (context / "Containerfile").write_text(DOCKERFILE)
    env = {**os.environ, **storage.env()}
    times = []
    for number in range(runs):
        tag = f"localhost/bench/buildah:{number}"
        started = time.monotonic()
        run(
            [
                "buildah",
                "bud",
                "--isolation",
                "chroot",
                "--layers=false",
                "-q",
                "-t",
                tag,
                str(context),
            ],
            env=env,
            timeout=900,
        )
        run(
            [
                "buildah",
                "push",
                "--tls-verify=false",
                tag,
                f"docker://{registry.address}/bench/buildah:{number}",
            ],
            env=env,
            timeout=300,
        )
        times.append(time.monotonic() - started)
        run(["buildah", "rmi", "-f", tag], env=env, timeout=120, check=False)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    storage = ContainerStorage.at(STATE)
    ensure_debian_image(storage, "12")
    with tempfile.TemporaryDirectory() as tmp, RegistryServer(Path(tmp) / "registry") as registry:
        work = Path(tmp)
        peer = buildah_builds(args.runs, registry, work, storage)
        ours = kiln_builds(args.runs, registry, work)
    kiln_median, peer_median = statistics.median(ours), statistics.median(peer)
    print("job: Debian 12 base + apt-get install jq + a file, pushed to docker-registry")
    print(
        f"kiln (CreateImage → AVAILABLE): {', '.join(f'{t:.1f}' for t in ours)} s; "
        f"median {kiln_median:.1f} s"
    )
    print(
        f"buildah bud + push:             {', '.join(f'{t:.1f}' for t in peer)} s; "
        f"median {peer_median:.1f} s"
    )
    print(f"ratio kiln / buildah: {kiln_median / peer_median:.2f}")


if __name__ == "__main__":
    main()
