"""PodmanInstance and PodmanCommunicator against real runc containers of the Debian base image."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from kiln.artifacts.containers import ContainerStorage
from kiln.artifacts.debian import DebianImage
from kiln.instances.base import LaunchSpec, launched
from kiln.instances.podman import PodmanInstance, PodmanLauncher
from kiln.instances.podman_communicator import TIMED_OUT_EXIT_CODE
from kiln.toe.communicator import Communicator, ExecOutcome
from tests.integration.conftest import TEST_LABEL

pytestmark = pytest.mark.podman


def _run(comm: Communicator, *argv: str, **kwargs: object) -> tuple[ExecOutcome, str]:
    chunks: list[bytes] = []
    timeout = kwargs.pop("timeout", 60.0)
    outcome = comm.exec(list(argv), on_output=chunks.append, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    return outcome, b"".join(chunks).decode()


def test_exec_streams_output_and_exit_code(instance: PodmanInstance) -> None:
    seen: list[tuple[float, bytes]] = []
    started = time.monotonic()
    outcome = instance.communicator.exec(
        ["sh", "-c", "echo first; sleep 1; echo second >&2"],
        on_output=lambda chunk: seen.append((time.monotonic() - started, chunk)),
        timeout=30,
    )
    assert outcome == ExecOutcome(0)
    assert b"".join(c for _, c in seen) == b"first\nsecond\n"
    assert seen[0][0] < 0.9, "first line arrives before the command ends"


def test_failing_command_exit_codes(instance: PodmanInstance) -> None:
    assert _run(instance.communicator, "sh", "-c", "exit 3")[0] == ExecOutcome(3)
    outcome, output = _run(instance.communicator, "no-such-command")
    assert outcome.exit_code == 127
    assert "no-such-command" in output


def test_exec_env_cwd_stdin(instance: PodmanInstance) -> None:
    outcome, output = _run(
        instance.communicator,
        "sh",
        "-c",
        'echo "$GREETING $(pwd) $(cat)"',
        env={"GREETING": "hello"},
        cwd="/tmp",
        stdin=b"from-stdin",
    )
    assert outcome.exit_code == 0
    assert output == "hello /tmp from-stdin\n"


def test_ulimits_and_runtime(instance: PodmanInstance) -> None:
    outcome, output = _run(instance.communicator, "bash", "-c", "ulimit -n; ulimit -u")
    assert outcome.exit_code == 0
    assert output.split() == ["1024", "4096"]
    assert instance.inspect()["OCIRuntime"] == "runc"


def test_timeout_kills_the_process_inside(
    instance: PodmanInstance, storage: ContainerStorage
) -> None:
    started = time.monotonic()
    outcome, _ = _run(instance.communicator, "sh", "-c", "sleep 1000 & sleep 1001", timeout=1.5)
    assert outcome == ExecOutcome(TIMED_OUT_EXIT_CODE, timed_out=True)
    assert time.monotonic() - started < 10
    top = storage.run(["podman", "top", instance.container, "args"], timeout=30).text
    assert "sleep" not in top, top
    assert _run(instance.communicator, "echo", "still-alive")[1] == "still-alive\n"


def test_upload_download_round_trip(instance: PodmanInstance, tmp_path: Path) -> None:
    payload = secrets.token_bytes(300_000) + b"\x00\xff end"
    local = tmp_path / "in.bin"
    local.write_bytes(payload)
    instance.communicator.upload(local, "/opt/kiln/new/dir/file.bin")
    outcome, output = _run(
        instance.communicator, "stat", "-c", "%U %s", "/opt/kiln/new/dir/file.bin"
    )
    assert (outcome.exit_code, output.split()) == (0, ["root", str(len(payload))])
    back = tmp_path / "out" / "file.bin"
    instance.communicator.download("/opt/kiln/new/dir/file.bin", back)
    assert back.read_bytes() == payload


@pytest.mark.slow
def test_reboot_keeps_files(instance: PodmanInstance) -> None:
    _run(instance.communicator, "sh", "-c", "echo kept > /root/marker; echo $$ > /tmp/pid")
    started = time.monotonic()
    instance.reboot()
    elapsed = time.monotonic() - started
    outcome, output = _run(instance.communicator, "cat", "/root/marker")
    assert (outcome.exit_code, output) == (0, "kept\n")
    assert elapsed < 20


@pytest.mark.slow
def test_commit_then_launch_new_image(
    instance: PodmanInstance, launcher: PodmanLauncher, storage: ContainerStorage
) -> None:
    _run(instance.communicator, "sh", "-c", "echo built > /etc/kiln-anchor")
    name = f"localhost/kiln-test/committed:{secrets.token_hex(3)}"
    image_id = instance.commit(
        name, changes=["ENV APP_MODE=prod", "LABEL team=kiln", "WORKDIR /srv"]
    )
    try:
        config = json.loads(storage.run(["podman", "image", "inspect", name], timeout=60).text)[0]
        assert config["Id"].startswith(image_id[:12])
        cfg = config["Config"]
        assert cfg.get("Entrypoint") in (None, [])  # Kiln's init did not leak
        assert cfg["Cmd"] == ["/bin/bash"]
        assert cfg["Labels"]["team"] == "kiln"
        assert "kiln.instance" not in cfg["Labels"]
        assert "APP_MODE=prod" in cfg["Env"]
        assert not any(e.startswith(("TERM=", "container=")) for e in cfg["Env"])
        with launched(launcher, LaunchSpec(name, labels=TEST_LABEL)) as second:
            outcome, output = _run(
                second.communicator, "sh", "-c", 'cat /etc/kiln-anchor; echo "$APP_MODE $(pwd)"'
            )
            assert (outcome.exit_code, output) == (0, "built\nprod /srv\n")
            outcome, output = _run(second.communicator, "ls", "-a", "/dev")
            assert "kiln-init" in output  # mounted at run time, never part of the image
        files = storage.run(
            ["podman", "run", "--rm", "--entrypoint", '["/bin/ls","-a","/"]', name], timeout=60
        ).text
        assert "kiln" not in files
    finally:
        storage.run(["podman", "rmi", "--force", name], timeout=60, check=False)


def test_leftovers_sweep(launcher: PodmanLauncher, debian_image: DebianImage) -> None:
    crash = {**TEST_LABEL, "kiln.sweep": secrets.token_hex(4)}
    a = launcher.launch(LaunchSpec(debian_image.name, labels=crash, name="build-a"))
    b = launcher.launch(LaunchSpec(debian_image.name, labels=crash))
    keep = launcher.launch(LaunchSpec(debian_image.name, labels=crash))
    found = {r.instance_id: r for r in launcher.list_instances(crash)}
    assert set(found) == {a.id, b.id, keep.id}
    assert found[a.id].labels["kiln.name"] == "build-a"
    assert found[a.id].status == "running"
    removed = launcher.remove_leftovers(crash, keep={keep.id})
    assert sorted(removed) == sorted([a.id, b.id])
    assert [r.instance_id for r in launcher.list_instances(crash)] == [keep.id]
    keep.terminate()
    keep.terminate()  # idempotent
    assert launcher.list_instances(crash) == []


def test_instance_type_limits_applied(launcher: PodmanLauncher, debian_image: DebianImage) -> None:
    spec = LaunchSpec(debian_image.name, instance_type="t3.nano", labels=TEST_LABEL)
    with launcher.launch(spec) as small:
        host = small.inspect()["HostConfig"]
        assert host["Memory"] == 512 * 1024 * 1024
        assert host["NanoCpus"] == int(small.limits.cpus * 1e9)
        outcome, output = _run(
            small.communicator, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        )
        if outcome.exit_code == 0:  # cgroup v1 view inside the container
            assert int(output) == 512 * 1024 * 1024
