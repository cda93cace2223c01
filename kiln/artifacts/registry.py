"""A managed local OCI registry: Debian's `docker-registry` on a loopback port.

Used by tests and by the embedded default as the place container builds are distributed to.

    with RegistryServer(tmp / "registry") as registry:
        copy_image(local, ImageLocation.registry(f"{registry.address}/kiln/app:1"), ...)

The registry speaks plain HTTP on 127.0.0.1 only; clients pass `tls_verify=False`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from kiln.core.errors import ConfigurationError, KilnError

logger = logging.getLogger(__name__)

BINARY = "docker-registry"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class RegistryError(KilnError):
    """The managed registry could not start, or stopped answering."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _config(data: Path, host: str, port: int) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {data}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: {host}:{port}\n"
    )


class RegistryServer:
    """A docker-registry process serving `root/data`; a context manager that stops it."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.root = root
        self.host = host
        self.port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port, the registry part of image references."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> RegistryServer:
        if self._proc is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        for _ in range(3):  # a free port can be taken between probing and binding
            port = self.port or _free_port(self.host)
            config = self.root / "config.yml"
            config.write_text(_config(self.root / "data", self.host, port))
            self._spawn(config)
            self.port = port
            if self._wait_ready():
                logger.info("registry serving at %s (data %s)", self.url, self.root / "data")
                return self
            self.stop()
            self.port = 0
        raise RegistryError(f"docker-registry did not start; see {self.root / 'registry.log'}")

    def _spawn(self, config: Path) -> None:
        # A long-running service: kiln.process only runs commands to completion, so this is the
        # one Popen of the artifacts layer (argv list, logged, own session, always stopped).
        argv = [BINARY, "serve", str(config)]
        logger.debug("spawn: %s", argv)
        log = (self.root / "registry.log").open("ab")
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"{BINARY} is not installed", hint="apt-get install docker-registry"
            ) from exc
        finally:
            log.close()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if self.ping():
                return True
            time.sleep(0.05)
        return False

    def ping(self) -> bool:
        """True when GET /v2/ answers 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as resp:
                return int(resp.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
