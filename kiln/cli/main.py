"""`kiln serve`, `kiln demo` and the command groups of the other layers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from kiln import __version__
from kiln.core.errors import ConfigurationError
from kiln.settings import Settings


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@click.group()
@click.version_option(__version__, prog_name="kiln")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def cli(verbose: bool) -> None:
    """Kiln: a self-hosted EC2 Image Builder that speaks the AWS API."""
    _configure_logging(verbose)


@cli.command()
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [8780].")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory [~/.local/share/kiln].",
)
@click.option("--region", default=None, help="Default region [us-east-1].")
def serve(host: str | None, port: int | None, data_dir: Path | None, region: str | None) -> None:
    """Serve the API until interrupted."""
    from kiln.cli.serving import serve_forever

    settings = Settings.load(host=host, port=port, data_dir=data_dir, region=region)
    serve_forever(settings)


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory [~/.local/share/kiln].",
)
@click.option("--port", type=int, default=None, help="Port for the demo server [8780].")
@click.option("--vm", is_flag=True, help="Build the example VM image (an AMI, in QEMU) instead.")
def demo(data_dir: Path | None, port: int | None, vm: bool) -> None:
    """Kiln's main job on the embedded default: build the example container image."""
    from kiln.cli.demo import run_demo

    settings = Settings.load(data_dir=data_dir, port=port)
    sys.exit(run_demo(settings, vm=vm))


@cli.group()
def admin() -> None:
    """Operator commands: credentials and accounts."""


@admin.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory [~/.local/share/kiln].",
)
@click.option("--account", default=None, help="Account id [the default account].")
def credentials(data_dir: Path | None, account: str | None) -> None:
    """Print an account administrator's key for the AWS CLI and boto3."""
    from kiln.app import Kiln
    from kiln.cli.credentials import print_credentials

    settings = Settings.load(data_dir=data_dir)
    kiln = Kiln(settings)
    try:
        found = kiln.admin_credentials(account)
    finally:
        kiln.close()
    print_credentials(
        found, endpoint=f"http://{settings.host}:{settings.port}", region=settings.region
    )


@admin.command("create-account")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory [~/.local/share/kiln].",
)
@click.option("--name", default="account", help="A name for the account.")
def create_account(data_dir: Path | None, name: str) -> None:
    """Add an account with its own administrator, and print the administrator's key."""
    from kiln.app import Kiln
    from kiln.cli.credentials import print_credentials

    settings = Settings.load(data_dir=data_dir)
    kiln = Kiln(settings)
    try:
        created = kiln.create_account(name)
    finally:
        kiln.close()
    print(f"Created account {created.account} ({name}).")
    print_credentials(
        created, endpoint=f"http://{settings.host}:{settings.port}", region=settings.region
    )


@cli.group()
def lifecycle() -> None:
    """Lifecycle policies (the server runs them daily on its own)."""


@lifecycle.command("run")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory [~/.local/share/kiln].",
)
@click.option(
    "--policy",
    "policy_arn",
    default=None,
    help="Run this lifecycle policy now [every policy that is due].",
)
def lifecycle_run(data_dir: Path | None, policy_arn: str | None) -> None:
    """Run lifecycle policies now and print the lifecycle execution ids."""
    from kiln.app import Kiln
    from kiln.core.clock import utcnow
    from kiln.services.imagebuilder import lifecycle_runs
    from kiln.store import resources

    kiln = Kiln(Settings.load(data_dir=data_dir))
    try:
        with kiln.database.transaction() as session:
            if policy_arn is None:
                executions = lifecycle_runs.run_due(session, utcnow(), images=kiln.image_stores)
            else:
                row = resources.by_arn(session, policy_arn)
                if row is None or row.resource_type != "lifecycle-policy":
                    raise ConfigurationError(f"no lifecycle policy {policy_arn}")
                executions = [
                    lifecycle_runs.run_lifecycle_policy(
                        session, row, now=utcnow(), images=kiln.image_stores
                    )
                ]
    finally:
        kiln.close()
    for execution in executions:
        print(execution)


from kiln.cli.images import images  # noqa: E402 - the groups of other layers join the main command
from kiln.cli.toe import toe  # noqa: E402

cli.add_command(toe)
cli.add_command(images)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ConfigurationError as exc:
        click.echo(f"kiln: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
