"""GuestAgent's wire handling against a scripted unix-socket peer (no VM needed)."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln.instances.qemu_agent import AgentError, GuestAgent

Handler = Callable[[dict[str, Any]], bytes | None]


class ScriptedAgent:
    """Accepts connections; answers each JSON request line with handler(request)."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.requests: list[dict[str, Any]] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                for raw in reader:
                    line = raw.replace(b"\xff", b"").strip()
                    if not line:
                        continue
                    request = json.loads(line)
                    self.requests.append(request)
                    reply = self.handler(request)
                    if reply is not None:
                        conn.sendall(reply)

    def close(self) -> None:
        self.server.close()


def _answer(request: dict[str, Any]) -> bytes | None:
    if request["execute"] == "guest-sync-delimited":
        token = request["arguments"]["id"]
        # a stale reply from an earlier session, then the delimiter and the real one
        return b'{"return": 1}\n\xff' + json.dumps({"return": token}).encode() + b"\n"
    if request["execute"] == "guest-info":
        return b'{"event": "noise"}\n{"return": {"version": "7.2"}}\n'
    if request["execute"] == "guest-file-open":
        return b'{"error": {"class": "GenericError", "desc": "No such file"}}\n'
    return None  # silence


@pytest.fixture
def agent() -> Iterator[tuple[GuestAgent, ScriptedAgent]]:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        peer = ScriptedAgent(Path(tmp) / "qga.sock", _answer)
        client = GuestAgent(peer.path)
        try:
            yield client, peer
        finally:
            client.close()
            peer.close()


def test_handshake_then_call(agent: tuple[GuestAgent, ScriptedAgent]) -> None:
    client, peer = agent
    assert client.wait_ready(5) < 5
    assert client.call("guest-info") == {"version": "7.2"}
    assert [r["execute"] for r in peer.requests] == ["guest-sync-delimited", "guest-info"]


def test_agent_errors_are_raised(agent: tuple[GuestAgent, ScriptedAgent]) -> None:
    client, _ = agent
    with pytest.raises(AgentError, match="GenericError: No such file"):
        client.call("guest-file-open", {"path": "/nope", "mode": "r"})


def test_silence_times_out_and_the_next_call_resyncs(
    agent: tuple[GuestAgent, ScriptedAgent],
) -> None:
    client, peer = agent
    with pytest.raises(AgentError, match="deadline"):
        client.call("guest-exec-status", {"pid": 1}, timeout=0.3)
    assert client.call("guest-info") == {"version": "7.2"}
    assert [r["execute"] for r in peer.requests][-2:] == ["guest-sync-delimited", "guest-info"]


def test_no_socket_means_not_ready() -> None:
    client = GuestAgent(Path("/tmp/kiln-no-such-agent.sock"))
    with pytest.raises(AgentError, match="not ready"):
        client.wait_ready(0.5)
