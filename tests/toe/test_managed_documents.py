"""The Amazon-managed component documents Kiln ships (kiln/toe/managed/): hello-world-linux under
the real `kiln toe run`; update-linux and reboot-linux only on a FakeCommunicator (they would
upgrade or reboot the host)."""

from __future__ import annotations

from importlib import resources

from kiln.services.imagebuilder.managed_components import managed_components
from kiln.toe import FakeCommunicator, run_documents
from tests.toe.conftest import Toe


def test_hello_world_linux_says_hello_in_every_phase(toe: Toe):
    shipped = resources.files("kiln.toe") / "managed" / "hello-world-linux.yaml"
    (toe.docs / "hello-world-linux.yaml").write_text(shipped.read_text())
    run = toe.run("hello-world-linux.yaml")
    assert run.exit_code == 0, run.stderr
    assert run.statuses() == {
        f"{phase}.HelloWorldStep": "success" for phase in ("build", "validate", "test")
    }
    assert run.console.splitlines() == [
        f"Hello World from the {phase} phase." for phase in ("build", "validate", "test")
    ]


def test_update_linux_upgrades_with_the_detected_package_manager(tmp_path):
    fake = FakeCommunicator()
    fake.on(lambda argv: argv[:2] == ("sh", "-c") and argv[-1] != "dnf", 1)  # only dnf exists
    fake.on(("dnf", "-y", "upgrade"), 1, 0)  # fails once, maxAttempts 3
    document = managed_components()["update-linux"].document
    result = run_documents(
        [document], communicator=fake, log_dir=tmp_path, work_dir=str(tmp_path / "w")
    )
    assert result.status == "success", result.failure_message
    upgrades = [argv for argv in fake.argvs() if argv[0] == "dnf"]
    assert upgrades == [("dnf", "-y", "upgrade")] * 2
    assert result.documents[0].steps()[0].attempts == 2


def test_reboot_linux_reboots_once(tmp_path):
    fake = FakeCommunicator()
    document = managed_components()["reboot-linux"].document
    result = run_documents(
        [document], communicator=fake, log_dir=tmp_path, work_dir=str(tmp_path / "w")
    )
    assert (result.status, fake.reboots) == ("success", 1)
