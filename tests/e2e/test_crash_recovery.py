"""`kiln serve` killed with SIGKILL in the middle of a build, then started again on the same
data directory: the build is failed promptly (the dead server process is seen at start, without
waiting for its lease) with a reason saying Kiln stopped, and its build container is removed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln.app import Kiln
from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import ensure_debian_image
from kiln.instances.podman import PodmanLauncher, podman_unavailable_reason
from kiln.settings import Settings
from tests.conftest import client_for, make_instance_profile

pytestmark = [pytest.mark.podman, pytest.mark.slow]

STATE_DIR = Path(
    os.environ.get("KILN_TEST_STATE_DIR", Path.home() / ".cache" / "kiln-test" / "containers")
)
SLEEPER = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Nap
        action: ExecuteBash
        inputs:
          commands: ["touch /napping", "sleep 900"]
"""
PROMPT = 30.0  # well inside the 60 s lease the killed server held


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def storage() -> ContainerStorage:
    storage = ContainerStorage.at(STATE_DIR)
    reason = podman_unavailable_reason(storage)
    if reason:
        _skip_or_fail(f"podman build instances unavailable: {reason}")
    ensure_debian_image(storage, "12")
    return storage


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`kiln serve` as a real process, in its own process group."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        port = _free_port()
        env = {**os.environ, "KILN_CONTAINERS_DIR": str(STATE_DIR), "KILN_REGISTRIES": ""}
        argv = [sys.executable, "-c", "from kiln.cli.main import main; main()", "serve",
                "--data-dir", str(self.data_dir), "--port", str(port)]  # fmt: skip
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"kiln serve exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self.url
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"kiln serve did not listen: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the server and every process of its group (podman exec children too)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)  # reaped: no zombie that looks alive to recovery
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None


@pytest.fixture
def server(tmp_path: Path, storage: ContainerStorage) -> Iterator[Server]:
    data_dir = tmp_path / "kiln"
    Kiln(Settings.load(environ={}, data_dir=data_dir)).close()  # first start: the admin key
    made = Server(data_dir, tmp_path / "serve.log")
    yield made
    made.stop()


def _wait(check: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout}s")


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
        _wait(
            lambda: (
                ib.get_image(imageBuildVersionArn=arn)["image"]["state"]["status"] == "BUILDING"
            ),
            "BUILDING",
            300,
        )
        (instance,) = _wait(
            lambda: launcher.list_instances({"kiln.image": arn}), "a container", 300
        )
        assert instance.labels.get("kiln.build")
        napping = ["podman", "exec", instance.container, "test", "-f", "/napping"]
        _wait(lambda: storage.run(napping, timeout=60, check=False).returncode == 0, "nap", 300)

        server.kill()
        survivors = launcher.list_instances({"kiln.image": arn})
        assert [r.status for r in survivors] == ["running"]  # the crash left it behind

        restarted = time.monotonic()
        ib = client_for(server.start(), admin)
        image = _wait(
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
