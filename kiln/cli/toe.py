"""`kiln toe validate|run`: AWSTOE's command line over kiln.toe, on the local host."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from kiln.objectstore import Resolver, environ_resolver
from kiln.settings import Settings
from kiln.toe import (
    Document,
    DocumentInvalidError,
    LocalCommunicator,
    RunDocument,
    ToeRunError,
    parse_document,
    run_documents,
)

PLATFORMS = click.Choice(["Linux", "Windows", "macOS"])


@click.group(name="toe")
def toe() -> None:
    """Validate and run component documents (AWSTOE-compatible)."""


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _parameters(text: str | None) -> dict[str, str]:
    """`n1=v1,n2=v2`: both name and value are required."""
    values: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or value == "":
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--parameters")
        values[name.strip()] = value
    return values


def _read(path: str) -> str:
    if path.startswith(("arn:", "s3://")):
        raise click.ClickException(
            f"{path}: component ARNs and S3 documents need a Kiln server; give a file path"
        )
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text") from exc


def _print(data: Mapping[str, Any]) -> None:
    click.echo(json.dumps(data, indent=4))


@toe.command()
@click.option("--documents", "-d", required=True, help="Comma-separated document paths.")
@click.option("--platform", type=PLATFORMS, default="Linux", show_default=True)
@click.option("--trace", "-t", is_flag=True, help="Print every problem on its own line.")
def validate(documents: str, platform: str, trace: bool) -> None:
    """Validate documents (syntax and module inputs only; nothing runs)."""
    reports, failed = [], False
    for path in _split(documents):
        try:
            parse_document(_read(path), platform=platform, path=path)
            reports.append({"document": path, "validationStatus": "success", "problems": []})
        except DocumentInvalidError as exc:
            failed = True
            problems = [str(p) for p in exc.problems]
            reports.append({"document": path, "validationStatus": "failed", "problems": problems})
            if trace:
                for problem in problems:
                    click.echo(f"{path}: {problem}", err=True)
    _print({"validationStatus": "failed" if failed else "success", "documents": reports})
    sys.exit(1 if failed else 0)


def _load_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    if path.startswith("s3://"):
        raise click.ClickException("an s3:// config needs a Kiln server; give a file path")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read config {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list):
        raise click.ClickException(f"{path}: the config needs a 'documents' list")
    return data


def _pairs(entries: Any) -> dict[str, str]:
    if not entries:
        return {}
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "name" in e and "value" in e for e in entries
    ):
        raise click.ClickException("config parameters must be a list of {name, value}")
    return {str(e["name"]): str(e["value"]) for e in entries}


def _config_phases(value: Any) -> list[str]:
    return _split(value) if isinstance(value, str) else [str(v) for v in value or []]


def _documents(paths: Sequence[tuple[str, dict[str, str]]]) -> list[RunDocument]:
    runs, problems = [], []
    for path, parameters in paths:
        try:
            document: Document = parse_document(_read(path), path=os.path.abspath(path))
            runs.append(RunDocument(document, parameters))
        except DocumentInvalidError as exc:
            problems += [f"{path}: {p}" for p in exc.problems]
    if problems:
        raise click.ClickException("invalid document(s):\n" + "\n".join(problems))
    return runs


@toe.command()
@click.option("--documents", "-d", help="Comma-separated document paths.")
@click.option("--config", "-c", "config_path", help="JSON run configuration file.")
@click.option("--phases", "-p", help="Comma-separated phases to run (default: all).")
@click.option("--parameters", help="name=value,name=value")
@click.option("--execution-id", "-i", help="Execution id (default: a new UUID).")
@click.option("--log-directory", "-l", help="Where the TOE_* log folder goes (default: .).")
@click.option("--state-directory", "-s", help="Where execution state is kept for resuming.")
@click.option("--trace", "-t", is_flag=True, help="Echo the application log to stderr.")
def run(
    documents: str | None,
    config_path: str | None,
    phases: str | None,
    parameters: str | None,
    execution_id: str | None,
    log_directory: str | None,
    state_directory: str | None,
    trace: bool,
) -> None:
    """Run documents on this host and print the summary; exit 0 on success."""
    if (documents is None) == (config_path is None):
        raise click.UsageError("give exactly one of --documents or --config")
    config = _load_config(config_path)
    if config:
        if parameters is not None and config.get("parameters"):
            raise click.UsageError("parameters are given both in --config and --parameters")
        paths = [(str(d.get("path")), _pairs(d.get("parameters"))) for d in config["documents"]]
    else:
        paths = [(path, {}) for path in _split(documents)]
    globals_ = (
        _parameters(parameters) if parameters is not None else _pairs(config.get("parameters"))
    )
    selected = _split(phases) if phases is not None else _config_phases(config.get("phases"))
    log_dir = log_directory or config.get("logDirectory") or "."
    state_dir = state_directory or config.get("stateDirectory")
    echo = (lambda line: click.echo(line, err=True)) if trace or config.get("trace") else None
    try:
        with _object_store() as objects:
            result = run_documents(
                _documents(paths), communicator=LocalCommunicator(), log_dir=Path(log_dir),
                phases=selected or None, parameters=globals_,
                execution_id=execution_id or config.get("executionId"),
                state_dir=Path(state_dir) if state_dir else None, trace=echo,
                object_store=objects,
            )  # fmt: skip
    except ToeRunError as exc:
        raise click.ClickException(str(exc)) from exc
    _print(result.summary())
    sys.exit(0 if result.succeeded else 1)


@contextlib.contextmanager
def _object_store() -> Iterator[Resolver]:
    """S3Download/S3Upload reach Kiln's object store: KILN_S3_* as for `kiln serve`, else the
    data directory's local buckets."""
    settings = Settings.load()
    resolver = environ_resolver(settings.data_dir, settings.region)
    try:
        yield resolver
    finally:
        resolver.close()
