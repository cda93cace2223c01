"""`kiln images logs`: a build's logs from the data directory, while it runs and after.

    kiln images logs arn:aws:imagebuilder:us-east-1:123456789012:image/app/1.0.0/1 --follow

prints the component runner's console and application logs and the step actions' logs of the
image's build, file by file (a `==> file <==` line before each file's new text, as tail does).
With --follow it keeps printing what is appended until the build ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from kiln.core.errors import ConfigurationError
from kiln.engine import status
from kiln.engine.logs import BuildLogs, BuildLogsError, log_root_of
from kiln.settings import Settings
from kiln.store import resources
from kiln.store.database import Database, sqlite_url

FOLLOW_INTERVAL = 1.0


@click.group(name="images")
def images() -> None:
    """Images this Kiln builds: their logs."""


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
