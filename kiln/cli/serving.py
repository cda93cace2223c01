"""Running the ASGI app under uvicorn, in the foreground or in a background thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from kiln.app import Kiln
from kiln.core.errors import ConfigurationError
from kiln.server.asgi import create_app
from kiln.settings import Settings


def _config(kiln: Kiln, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(kiln),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def serve_forever(settings: Settings) -> None:
    kiln = Kiln(settings)
    print(
        f"Kiln serving on http://{settings.host}:{settings.port} "
        f"(region {settings.region}, data in {kiln.data_dir})",
        flush=True,
    )
    try:
        kiln.start_builds()
        uvicorn.Server(_config(kiln, settings.host, settings.port)).run()
    finally:
        kiln.close()


@contextlib.contextmanager
def background_server(kiln: Kiln, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve kiln in a thread; yields the endpoint URL; stops on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="choose another port with --port, or stop what is using it",
        ) from exc
    server = uvicorn.Server(_config(kiln, host, port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigurationError(f"the API server did not start on {host}:{port}")
        time.sleep(0.02)
    bound_port = sock.getsockname()[1]
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
