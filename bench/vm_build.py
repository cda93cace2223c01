"""Time a VM image build end to end with Kiln, next to Packer doing the same work, in one run.

The job: boot Kiln's managed Debian 12 base disk, run bench/packer/provision.sh's commands (write
/etc/kiln-anchor, install jq from the Debian mirror), shut down, capture a compressed qcow2.

- Kiln: CreateImage of an image recipe (parent `aws:image/debian-12-x86/x.x.x`) through boto3 →
  AVAILABLE: build VM from an overlay of the base disk (qemu-guest-agent put in offline), the
  component, shutdown, agent purged, `qemu-img convert -c`; then, unless --no-tests, a test VM
  booted from the new AMI runs the component's test phase.
- Peer: Debian's `packer` (1.6) with bench/packer/debian-12-qemu.json: the qemu builder on the
  same base disk in its ssh flavor, a throwaway key authorised for root offline, the shell
  provisioner, `shutdown -P now`, `disk_compression` (qemu-img convert -c).

Both get the same accelerator (KVM only when Kiln's probe boots a kernel under it) and the
vCPUs and memory of INSTANCE_TYPE. Both outputs are opened afterwards to check jq and the anchor.

Usage: .venv/bin/python bench/vm_build.py [--runs N] [--no-tests]   (as root: loop mounts)
Needs qemu-system-x86, qemu-utils, mmdebstrap and packer (`apt-get install -y packer`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiln.amis import registry as ami_registry
from kiln.app import Kiln
from kiln.artifacts.apt_sources import DebianMirror
from kiln.artifacts.vm_agent import fetch_debs, guest_codename
from kiln.artifacts.vm_mount import mounted_root, raw_view
from kiln.artifacts.vmdisk import BaseDisk, ensure_base_disk
from kiln.cli.serving import background_server
from kiln.instances.qemu_probe import ACCEL_ENV, Accelerator, accelerator
from kiln.instances.types import resource_limits
from kiln.process import run, stream
from kiln.settings import Settings

STATE = Path(os.environ.get("KILN_TEST_VM_DIR", Path.home() / ".cache/kiln-test/vm"))
PACKER_DIR = Path(__file__).resolve().with_name("packer")
TEMPLATE = PACKER_DIR / "debian-12-qemu.json"
PROVISION = PACKER_DIR / "provision.sh"
INSTANCE_TYPE = "t3.small"
PARENT = "arn:aws:imagebuilder:us-east-1:aws:image/debian-12-x86/x.x.x"
BUILD_TIMEOUT = 3600.0
POLICIES = ("EC2InstanceProfileForImageBuilder", "AmazonSSMManagedInstanceCore")
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
PACKER_HINT = (
    "packer is not installed: `apt-get install -y packer` (Debian's 1.6.6, qemu builder "
    "included) or ./scripts/install.sh, which installs scripts/debian-packages.txt"
)


Run = tuple[float, float]  # seconds, the host's 5-minute load average when the run ended


def describe(runs: list[Run]) -> str:
    each = ", ".join(f"{seconds:.1f} (load {load:.1f})" for seconds, load in runs)
    return f"{each} s; median {statistics.median(s for s, _ in runs):.1f} s"


def provision_commands() -> list[str]:
    lines = (line.strip() for line in PROVISION.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def component_document() -> str:
    """The provisioning commands as a build phase; the test phase runs only on a test VM."""
    return f"""schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Provision
        action: ExecuteBash
        inputs:
          commands: {json.dumps(provision_commands())}
  - name: test
    steps:
      - name: JqThere
        action: ExecuteBash
        inputs:
          commands: ["jq --version", "grep -q kiln-was-here /etc/kiln-anchor"]
"""


@contextmanager
def guest_root(disk: Path, work: Path) -> Iterator[Path]:
    """disk's root filesystem, mounted through a new overlay `work/overlay.qcow2` (disk stays)."""
    work.mkdir(parents=True)
    overlay = work / "overlay.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(disk), "-F", "qcow2"]
    run([*argv, str(overlay)], timeout=60)
    with raw_view(overlay, work / "disk.raw") as raw, mounted_root(raw, work / "root") as root:
        yield root


def check_output(disk: Path, work: Path) -> None:
    with guest_root(disk, work) as root:
        if not (root / "usr/bin/jq").exists():
            raise SystemExit(f"{disk} has no /usr/bin/jq")
        if (root / "etc/kiln-anchor").read_text().strip() != "kiln-was-here":
            raise SystemExit(f"{disk} has no /etc/kiln-anchor")
    shutil.rmtree(work)


def warm_agent_cache(base: BaseDisk, work: Path) -> None:
    """Fill Kiln's cache of qemu-guest-agent debs, as any build after the first finds it."""
    with guest_root(base.path, work) as root:
        codename = guest_codename(root)
        fetch_debs(
            DebianMirror.from_host(),
            codename,
            dpkg_status=root / "var/lib/dpkg/status",
            cache=STATE / "agent-debs" / codename,
        )
    shutil.rmtree(work)


def packer_source(base: BaseDisk, work: Path) -> tuple[Path, Path]:
    """An overlay of the ssh-flavor base disk whose root accepts a new key; (disk, key file)."""
    key = Ed25519PrivateKey.generate()
    key_file = work / "id_ed25519"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    with guest_root(base.path, work / "source") as root:
        ssh = root / "root/.ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "authorized_keys").write_bytes(public + b" kiln-bench\n")
        (ssh / "authorized_keys").chmod(0o600)
    return work / "source/overlay.qcow2", key_file


def echo(chunk: bytes) -> None:
    sys.stderr.buffer.write(chunk)
    sys.stderr.flush()


def packer_builds(runs: int, source: Path, key: Path, accel: Accelerator, work: Path) -> list[Run]:
    limits = resource_limits(INSTANCE_TYPE)
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "PACKER_CACHE_DIR": str(work / "cache")}
    times = []
    for number in range(runs):
        output = work / f"packer-{number}"
        console = work / f"packer-{number}.console.log"
        variables = {
            "source": source,
            "output": output,
            "accelerator": accel.name,
            "cpu_model": "host" if accel.name == "kvm" else "max",
            "cpus": int(limits.cpus),
            "memory": limits.memory_mib,
            "ssh_key": key,
            "console": console,
            "commands": PROVISION,
        }
        argv = ["packer", "build", "-color=false", "-timestamp-ui"]
        for name, value in variables.items():
            argv += ["-var", f"{name}={value}"]
        started = time.monotonic()
        code, timed_out = stream(
            [*argv, str(TEMPLATE)], on_output=echo, env=env, timeout=BUILD_TIMEOUT
        )
        if code != 0 or timed_out:
            tail = console.read_bytes()[-2000:].decode(errors="replace")
            raise SystemExit(f"packer build failed (exit {code}); serial console:\n{tail}")
        times.append((time.monotonic() - started, os.getloadavg()[1]))
        check_output(output / "image.qcow2", work / f"check-packer-{number}")
        shutil.rmtree(output)
    return times


def kiln_builds(runs: int, tests: bool, work: Path) -> list[Run]:
    data_dir = work / "kiln"
    data_dir.mkdir(mode=0o700)
    (data_dir / "vm-disks").symlink_to(STATE)  # the base disks and agent debs already cached
    kiln = Kiln(Settings.load(environ={}, data_dir=data_dir))
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
            for policy in POLICIES:
                iam.attach_role_policy(
                    RoleName="bench", PolicyArn=f"arn:aws:iam::aws:policy/{policy}"
                )
            iam.create_instance_profile(InstanceProfileName="bench")
            iam.add_role_to_instance_profile(InstanceProfileName="bench", RoleName="bench")
            ib = session.client("imagebuilder", endpoint_url=url)
            component = ib.create_component(
                name="bench", semanticVersion="1.0.0", platform="Linux", data=component_document()
            )
            recipe = ib.create_image_recipe(
                name="bench",
                semanticVersion="1.0.0",
                parentImage=PARENT,
                components=[{"componentArn": component["componentBuildVersionArn"]}],
            )["imageRecipeArn"]
            infra = ib.create_infrastructure_configuration(
                name="bench", instanceProfileName="bench", instanceTypes=[INSTANCE_TYPE]
            )["infrastructureConfigurationArn"]
            for number in range(runs):
                started = time.monotonic()
                arn = ib.create_image(
                    imageRecipeArn=recipe,
                    infrastructureConfigurationArn=infra,
                    imageTestsConfiguration={"imageTestsEnabled": tests},
                )["imageBuildVersionArn"]
                while True:
                    image = ib.get_image(imageBuildVersionArn=arn)["image"]
                    if image["state"]["status"] in ("AVAILABLE", "FAILED", "CANCELLED"):
                        break
                    time.sleep(0.5)
                if image["state"]["status"] != "AVAILABLE":
                    raise SystemExit(f"Kiln build ended {image['state']}")
                times.append((time.monotonic() - started, os.getloadavg()[1]))
                built = image["outputResources"]["amis"][0]["image"]
                with kiln.database.transaction() as db:
                    ami = ami_registry.get(db, built)
                if ami is None:
                    raise SystemExit(f"Kiln's AMI {built} of {arn} is not registered")
                check_output(kiln.image_stores.path(ami.disk), work / f"check-kiln-{number}")
    finally:
        kiln.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--no-tests",
        action="store_true",
        help="imageTestsEnabled=false: Kiln does what Packer does (no test VM)",
    )
    args = parser.parse_args()
    if shutil.which("packer") is None:
        sys.exit(PACKER_HINT)
    kiln_base = ensure_base_disk(STATE, "12")
    packer_base = ensure_base_disk(STATE, "12", ssh=True)
    accel = accelerator(kiln_base.kernel)
    os.environ[ACCEL_ENV] = accel.name  # Kiln's instances use what the probe chose here
    with tempfile.TemporaryDirectory(prefix="kiln-vmbench-", dir="/tmp") as tmp:
        work = Path(tmp)
        warm_agent_cache(kiln_base, work / "warm")
        source, key = packer_source(packer_base, work)
        peer = packer_builds(args.runs, source, key, accel, work)
        ours = kiln_builds(args.runs, not args.no_tests, work)
    limits = resource_limits(INSTANCE_TYPE)
    tests = "without its test VM (--no-tests)" if args.no_tests else "with its test VM"
    print(f"job: Debian 12 base disk {kiln_base.version} + {'; '.join(provision_commands())}")
    print(
        f"VMs: {accel.name} ({accel.reason}); {int(limits.cpus)} vCPU, "
        f"{limits.memory_mib} MiB ({INSTANCE_TYPE}); host has {os.cpu_count()} CPUs"
    )
    print(f"kiln (CreateImage → AVAILABLE, {tests}): {describe(ours)}")
    print(f"packer 1.6 qemu (ssh, shell provisioner, qemu-img convert -c): {describe(peer)}")
    ratio = statistics.median(s for s, _ in ours) / statistics.median(s for s, _ in peer)
    print(f"ratio kiln / packer: {ratio:.2f}")


if __name__ == "__main__":
    main()
