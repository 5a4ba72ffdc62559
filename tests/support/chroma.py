"""A real Chroma server for server-mode tests: ``chroma run`` from this virtualenv, on a free
loopback port, in its own folder; plus a fake server that accepts connections and never
answers, and helpers to run the ``readout`` CLI against either."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from index.build import build_index
from index.corpus import BUNDLED_CORPUS_DIR
from index.embedder import OnnxEmbedder
from index.lock import NoLock
from index.store import ChromaStore
from tests.support.paths import run_readout

CHROMA = Path(sys.executable).with_name("chroma")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 240.0


def free_port() -> int:
    """A port nothing listens on right now (``chroma run`` refuses port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: object, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


class ChromaServer:
    """One ``chroma run`` process, startable again on the same folder and port."""

    def __init__(self, path: Path, log_path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, "already running"
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(CHROMA),
                    "run",
                    "--path",
                    str(self.path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
        if not wait_until(self._ready, START_TIMEOUT, interval=0.1):
            self.stop()
            raise AssertionError(f"chroma run did not start: {self._log_path.read_text()[-2000:]}")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"chroma run exited: {self._log_path.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """Crash it: SIGKILL, no goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        self.process = None

    def freeze(self) -> None:
        """Make it hang: the kernel still accepts connections, nothing ever answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self.process = None


class SilentServer:
    """Accepts TCP connections and never sends a byte: a hung server."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self._socket.settimeout(0.1)  # so the accept loop notices close() promptly
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._socket.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A fresh, running Chroma server of its own; stopped (by PID) after the test."""
    server = ChromaServer(tmp_path / "chroma-data", tmp_path / "chroma.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def article_on_server(chroma_server: ChromaServer, real_embedder: OnnxEmbedder) -> ChromaServer:
    """The chroma server, holding the bundled article's index (v1)."""
    store = ChromaStore.open_remote(chroma_server.url, timeout=60)
    try:
        build_index([BUNDLED_CORPUS_DIR], embedder=real_embedder, store=store, lock=NoLock())
    finally:
        store.close()
    return chroma_server


@pytest.fixture
def server_env(chroma_server: ChromaServer, tmp_path: Path) -> dict[str, str]:
    """Environment for a `readout` subprocess in server mode (no local index at all)."""
    env = dict(os.environ)
    env["READOUT_CHROMA_URL"] = chroma_server.url
    env["READOUT_STORE"] = str(tmp_path / "must-not-be-used")
    env["ANONYMIZED_TELEMETRY"] = "False"
    return env


def readout(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does: its own process, the real model and store."""
    return run_readout(env, *args, stdin=stdin, timeout=timeout)
