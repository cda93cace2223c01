"""`kiln demo`, the README's main job: on a fresh data directory it sets up the prerequisites,
registers the example component and builds the example container image, and a second run
reuses all of it and builds the next build version."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.cli.main import cli

STATE_DIR = os.environ.get(
    "KILN_TEST_STATE_DIR", str(Path.home() / ".cache" / "kiln-test" / "containers")
)

pytestmark = [pytest.mark.podman, pytest.mark.slow]


@pytest.fixture(autouse=True)
def podman_present():
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is not installed (scripts/debian-packages.txt)")
        pytest.skip("podman is not installed")


def test_demo_builds_the_example_image_and_says_how_to_run_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CONTAINERS_DIR", STATE_DIR)  # the Debian base, cached across tests
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--data-dir", str(tmp_path / "data")])
    assert first.exit_code == 0, first.output
    assert "component/hello-kiln/1.0.0/1" in first.output
    assert "image/hello-kiln/1.0.0/1 is AVAILABLE" in first.output
    layout = tmp_path / "data" / "registry" / "kiln" / "hello-kiln"
    assert f"oci:{layout}:1.0.0-1" in first.output
    assert (layout / "index.json").exists()
    assert "podman run --rm localhost/kiln/hello-kiln:1.0.0-1" in first.output
    assert "export AWS_ACCESS_KEY_ID=AKIA" in first.output
    again = runner.invoke(cli, ["demo", "--data-dir", str(tmp_path / "data")])
    assert again.exit_code == 0, again.output
    assert "image/hello-kiln/1.0.0/2 is AVAILABLE" in again.output
    assert "export AWS_ACCESS_KEY_ID" not in again.output  # the key is shown once
