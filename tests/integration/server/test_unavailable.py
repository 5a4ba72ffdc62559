"""A Chroma server that dies, hangs or never answers: readers say "search is unavailable right
now" within 5 s, never hang or show a traceback, and answer again once it is back, without a
restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.service import UNAVAILABLE, AnswerService, Asker, ReplyKind
from index.embedder import OnnxEmbedder
from index.store import ChromaStore
from retrieval.engine import Engine
from tests.support.chroma import (
    ChromaServer,
    SilentServer,
    free_port,
    readout,
)

pytestmark = pytest.mark.integration

QUESTION = "What did Xi say about Taiwan?"
EXPECTED = "first red line"
LIMIT = 5.0  # seconds, from the issue
UNAVAILABLE_TEXT = "search is unavailable right now"


class ChatProcess:
    """`readout chat` in its own process: a long-lived reader, like one bot replica."""

    PROMPT = b"\n\n? "

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat"],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._output = bytearray()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_for(0, lambda text: text.endswith(b"\n? "), 120)

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            with self._changed:
                self._output.extend(chunk)
                self._changed.notify_all()

    def _wait_for(self, start: int, done: object, timeout: float) -> bytes:
        assert callable(done)
        with self._changed:
            finished = self._changed.wait_for(
                lambda: done(bytes(self._output[start:])) or self.process.poll() is not None,
                timeout,
            )
            text = bytes(self._output[start:])
        assert finished and self.process.poll() is None, f"chat stopped or stalled: {text!r}"
        return text

    def ask(self, question: str, timeout: float = 60) -> tuple[str, float]:
        """The chat's reply to ``question`` and how long it took."""
        assert self.process.stdin is not None
        with self._changed:
            start = len(self._output)
        started = time.monotonic()
        self.process.stdin.write(question.encode() + b"\n")
        self.process.stdin.flush()
        text = self._wait_for(start, lambda out: out.endswith(self.PROMPT), timeout)
        return text[: -len(self.PROMPT)].decode(), time.monotonic() - started

    def close(self) -> int:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b"/quit\n")
            self.process.stdin.close()
            code = self.process.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            code = self.process.wait(30)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._log.close()
        return code


def test_a_bot_process_says_unavailable_within_5s_then_answers_again_without_restarting(
    article_on_server: ChromaServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    server = article_on_server
    chat = ChatProcess(server_env, tmp_path / "chat.log")
    try:
        first, _ = chat.ask(QUESTION, timeout=240)  # the model loads on the first question
        assert EXPECTED in first

        server.kill()  # crashed: connections reset, then refused
        down, elapsed = chat.ask(QUESTION)
        assert UNAVAILABLE_TEXT in down and elapsed < LIMIT

        server.start()  # same folder, same port
        back, _ = chat.ask(QUESTION)
        assert EXPECTED in back, back

        server.freeze()  # hung: connections accepted, nothing ever answered
        hung, elapsed = chat.ask(QUESTION)
        assert UNAVAILABLE_TEXT in hung and elapsed < LIMIT

        server.thaw()
        again, _ = chat.ask(QUESTION)
        assert EXPECTED in again, again
    finally:
        if server.process is not None:
            server.thaw()
        code = chat.close()
    assert code == 0
    assert "Traceback" not in (tmp_path / "chat.log").read_text()


async def test_answers_in_flight_when_the_server_dies_end_as_unavailable_never_as_errors(
    article_on_server: ChromaServer, real_embedder: OnnxEmbedder
) -> None:
    server = article_on_server
    store = ChromaStore.open_remote(server.url)
    service = AnswerService(
        Engine(store, real_embedder), rate_limit=100_000, rate_window=1.0, timeout=20.0
    )
    asker = Asker("test", "someone")
    replies: list[tuple[float, float, ReplyKind, str]] = []
    stop = asyncio.Event()

    async def keep_asking() -> None:
        while not stop.is_set():
            started = time.monotonic()
            reply = await service.ask(asker, QUESTION)
            replies.append((started, time.monotonic(), reply.kind, reply.text))

    askers = [asyncio.create_task(keep_asking()) for _ in range(3)]
    try:
        assert await _poll(lambda: len(replies) >= 6, 120)
        await asyncio.to_thread(server.kill)
        # Taken once the kill has returned: a question started while the process was still
        # dying may be answered, and that is not what this test is about.
        killed_at = time.monotonic()
        assert await _poll(
            lambda: any(r[0] > killed_at + 0.2 and r[2] is ReplyKind.UNAVAILABLE for r in replies),
            30,
        )
        # The server may serve before start() returns: "down" ends when the restart begins.
        restarting_at = time.monotonic()
        await asyncio.to_thread(server.start)
        restarted_at = time.monotonic()
        assert await _poll(
            lambda: any(r[0] > restarted_at and r[2] is ReplyKind.ANSWER for r in replies), 30
        )
    finally:
        stop.set()
        await asyncio.gather(*askers)
        service.close()
        store.close()

    kinds = {kind for _, _, kind, _ in replies}
    assert kinds <= {ReplyKind.ANSWER, ReplyKind.UNAVAILABLE}  # never FAILED, never a timeout
    for started, finished, kind, text in replies:
        if kind is ReplyKind.UNAVAILABLE:
            assert text == UNAVAILABLE and finished - started < LIMIT
        else:
            assert EXPECTED in text
    during = [r for r in replies if killed_at + 0.2 < r[0] and r[1] < restarting_at]
    answered = [r for r in during if r[2] is not ReplyKind.UNAVAILABLE]
    assert during and not answered, (killed_at, restarting_at, answered[:3])


async def test_a_silent_server_is_unavailable_within_5s(
    silent_server: SilentServer, real_embedder: OnnxEmbedder
) -> None:
    store = ChromaStore.open_remote(silent_server.url)
    service = AnswerService(Engine(store, real_embedder), timeout=20.0)
    try:
        for _ in range(2):  # the second attempt connects afresh: still bounded
            started = time.monotonic()
            reply = await service.ask(Asker("test", "someone"), QUESTION)
            assert reply.kind is ReplyKind.UNAVAILABLE and reply.text == UNAVAILABLE
            assert time.monotonic() - started < LIMIT
    finally:
        service.close()
        store.close()


def test_the_cli_says_unavailable_for_a_silent_or_absent_server(
    silent_server: SilentServer, tmp_path: Path
) -> None:
    for url in (silent_server.url, f"http://127.0.0.1:{free_port()}"):
        env = {**os.environ, "READOUT_CHROMA_URL": url, "READOUT_STORE": str(tmp_path / "x")}
        started = time.monotonic()
        done = readout(env, "ask", QUESTION, timeout=120)
        took = time.monotonic() - started
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith(f"error: {UNAVAILABLE_TEXT}: the index server at {url}")
        assert "Traceback" not in done.stderr and done.stdout == ""
        # Bounded: interpreter start-up and imports, plus at most one store deadline.
        assert took < 60, took


async def _poll(condition: object, timeout: float) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())
