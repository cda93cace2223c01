"""`kiln images logs | run | export`: a build's logs, and AMIs booted or written out.

    kiln images logs arn:aws:imagebuilder:us-east-1:123456789012:image/app/1.0.0/1 --follow

prints the component runner's console and application logs and the step actions' logs of the
image's build, file by file (a `==> file <==` line before each file's new text, as tail does).
With --follow it keeps printing what is appended until the build ends.

    kiln images run ami-0123456789abcdef0 [--ssh-port 2222] [--ssh-key ~/.ssh/id_ed25519.pub]
    kiln images run ami-0123456789abcdef0 --exec 'cat /etc/os-release'
    kiln images export ami-0123456789abcdef0 --format vmdk [--output disk.vmdk]

`run` boots the AMI in a throwaway VM (kiln.amis.run): the serial console on the terminal, or
with --exec one command through the guest agent, its output and exit code. `export` writes the
AMI's disk as raw, qcow2, vmdk (streamOptimized) or vhd. Both act as the local administrator for
one account (--account, default the first account Kiln made): the AMI must be that account's or
launchable by it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from sqlalchemy import select

from kiln.amis import registry
from kiln.amis.disks import ImageStoreError
from kiln.amis.formats import EXPORT_FORMATS
from kiln.amis.stores import ImageStores
from kiln.core.errors import ConfigurationError, KilnError
from kiln.engine import status
from kiln.engine.logs import BuildLogs, BuildLogsError, log_root_of
from kiln.objectstore import environ_resolver
from kiln.settings import Settings
from kiln.store import resources
from kiln.store.database import Database, sqlite_url
from kiln.store.schema import AccountRow

FOLLOW_INTERVAL = 1.0


@click.group(name="images")
def images() -> None:
    """Images this Kiln builds: their logs; AMIs booted and exported."""


@images.command("logs")
@click.argument("image_build_version_arn")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the build ends.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory [~/.local/share/kiln].",
)
def logs(image_build_version_arn: str, follow: bool, data_dir: Path | None) -> None:
    """Print an image build's AWSTOE console logs and step logs."""
    settings = Settings.load(data_dir=data_dir)
    show_logs(
        settings,
        image_build_version_arn,
        follow=follow,
        write=lambda text: click.echo(text, nl=False),
    )


def show_logs(
    settings: Settings,
    image_arn: str,
    *,
    follow: bool,
    write: Callable[[str], None],
    interval: float = FOLLOW_INTERVAL,
) -> None:
    """Write the build's logs; with `follow`, until the image is no longer being built."""
    data_dir = settings.data_dir.expanduser().resolve()
    if settings.database_url is None and not (data_dir / "kiln.db").exists():
        raise ConfigurationError(
            f"{data_dir} holds no Kiln data", hint="name Kiln's data directory with --data-dir"
        )
    try:
        root = log_root_of(data_dir, image_arn)
    except BuildLogsError as exc:
        raise ConfigurationError(
            str(exc), hint="use the imageBuildVersionArn that CreateImage or a pipeline run gave"
        ) from exc
    database = Database(settings.database_url or sqlite_url(data_dir))
    try:
        building = _building(database, image_arn, data_dir)
        _stream(BuildLogs(root), write, building=building if follow else None, interval=interval)
    finally:
        database.dispose()


def _building(database: Database, image_arn: str, data_dir: Path) -> Callable[[], bool]:
    def check() -> bool:
        with database.transaction() as session:
            row = resources.by_arn(session, image_arn)
            return row is not None and status.status_of(row) in status.IN_PROGRESS

    with database.transaction() as session:
        if resources.by_arn(session, image_arn) is None:
            raise ConfigurationError(
                f"Kiln has no image {image_arn} in {data_dir}",
                hint="name the data directory of the Kiln that built it with --data-dir",
            )
    return check


def _stream(
    logs: BuildLogs,
    write: Callable[[str], None],
    *,
    building: Callable[[], bool] | None,
    interval: float,
) -> None:
    current: Path | None = None
    while True:
        going = building is not None and building()
        while chunks := logs.poll():  # everything there is, however long
            for chunk in chunks:
                if chunk.path != current:
                    write(f"\n==> {chunk.path} <==\n" if current else f"==> {chunk.path} <==\n")
                    current = chunk.path
                write(chunk.text)
        if not going:
            return
        time.sleep(interval)


# -- run and export ---------------------------------------------------------------------------

DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory [~/.local/share/kiln].",
)
ACCOUNT = click.option("--account", default=None, help="Act for this account [the default one].")


@images.command("run")
@click.argument("ami_id")
@click.option("--exec", "command", default=None, help="Run this shell command, print, exit.")
@click.option(
    "--ssh-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Forward 127.0.0.1:N to the guest's port 22.",
)
@click.option(
    "--ssh-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Authorise this public key for root (in the throwaway layer only).",
)
@click.option("--instance-type", default="t3.small", show_default=True)
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="--exec limit (s).")
@ACCOUNT
@DATA_DIR
def run(
    ami_id: str,
    command: str | None,
    ssh_port: int | None,
    ssh_key: Path | None,
    instance_type: str,
    timeout: float,
    account: str | None,
    data_dir: Path | None,
) -> None:
    """Boot an AMI in a throwaway VM: its serial console, or one command (--exec)."""
    from kiln.amis import run as runner
    from kiln.app import vm_runtime_dir

    settings = Settings.load(data_dir=data_dir)
    disk, root = _ami_disk(settings, ami_id, account)
    run_settings = runner.RunSettings(
        runtime_dir=vm_runtime_dir(root),
        agent_cache=root / "vm-disks" / "agent-debs",
        instance_type=instance_type,
        ssh_port=ssh_port,
    )
    key = ssh_key.read_text() if ssh_key else None
    note = f"Booting {ami_id} in a throwaway VM (1-3 minutes without KVM)"
    click.echo(note + (f"; ssh -p {ssh_port} root@127.0.0.1" if ssh_port else ""), err=True)
    code = 130
    try:
        code = runner.run_ami(
            run_settings,
            disk,
            command=command,
            ssh_key=key,
            timeout=timeout,
            notice=lambda text: click.echo(text.decode(), err=True, nl=False),
        )
    except KeyboardInterrupt:
        click.echo("\nkiln: interrupted; the VM was terminated", err=True)
    except KilnError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(str(exc), hint="kiln -v images run ... shows more") from exc
    sys.exit(code)


@images.command("export")
@click.argument("ami_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in EXPORT_FORMATS], case_sensitive=False),
    required=True,
)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="[AMI.FORMAT]")
@ACCOUNT
@DATA_DIR
def export(
    ami_id: str, fmt: str, output: Path | None, account: str | None, data_dir: Path | None
) -> None:
    """Write an AMI's disk to a file as raw, qcow2, vmdk (streamOptimized) or vhd."""
    from kiln.amis.export import export_to_file

    settings = Settings.load(data_dir=data_dir)
    disk, _root = _ami_disk(settings, ami_id, account)
    target = output or Path(f"{ami_id}.{fmt.lower()}")
    try:
        export_to_file(disk, fmt, target)
    except KilnError as exc:
        raise ConfigurationError(f"the export of {ami_id} failed: {exc}") from exc
    click.echo(str(target))


def _ami_disk(settings: Settings, ami_id: str, account: str | None) -> tuple[Path, Path]:
    """The disk of an AMI the account may launch, and the data directory."""
    data_dir = settings.data_dir.expanduser().resolve()
    if settings.database_url is None and not (data_dir / "kiln.db").exists():
        raise ConfigurationError(
            f"{data_dir} holds no Kiln data", hint="name Kiln's data directory with --data-dir"
        )
    database = Database(settings.database_url or sqlite_url(data_dir))
    try:
        with database.transaction() as session:
            if account is None:
                first = session.scalars(select(AccountRow).order_by(AccountRow.created_at))
                row = first.first()
                account = row.account_id if row is not None else ""
            ami = registry.get(session, ami_id)
    finally:
        database.dispose()
    if ami is None or not (ami.account == "aws" or ami.launchable_by(account)):
        raise ConfigurationError(
            f"account {account} has no AMI {ami_id} it may launch",
            hint="name the owning account with --account, or list AMIs with "
            "aws ec2 describe-images --owners self",
        )
    try:
        with image_stores(settings, data_dir) as stores:
            disk = stores.path(ami.disk)  # a bucket store downloads it into its cache
    except ImageStoreError as exc:
        raise ConfigurationError(f"the disk of {ami_id} cannot be read: {exc}") from exc
    if not disk.is_file():
        raise ConfigurationError(f"the disk of {ami_id} is missing: {disk}")
    return disk, data_dir


@contextlib.contextmanager
def image_stores(settings: Settings, data_dir: Path) -> Iterator[ImageStores]:
    """Every region's AMI disk store as a running Kiln opens it (KILN_IMAGE_STORES)."""
    objects = environ_resolver(data_dir, settings.region)
    try:
        yield ImageStores.configured(settings, data_dir, objects)
    finally:
        objects.close()
