"""`readout serve slack`, run as a user runs it: a subprocess with the real model and a real index,
talking to the local Slack stand-in over loopback (HTTP mode and Socket Mode), stopped by
SIGTERM the way ``docker stop`` stops it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.settings import Settings
from bot.slack_app import serve
from index.errors import ConfigError, ReadoutError
from tests.integration.slack.conftest import (
    APP_TOKEN,
    BOT_TOKEN,
    QUESTION,
    SIGNING_SECRET,
    FakeSlack,
    SlackHttp,
    all_text,
    command_payload,
)

pytestmark = pytest.mark.integration

STARTUP = 120.0  # loading the model in a fresh process; usually a few seconds
STOP = 30.0


@pytest.fixture
def serve_env(tmp_path: Path, article_store_dir: Path, fake_slack: FakeSlack) -> dict[str, str]:
    store = tmp_path / "store"
    shutil.copytree(article_store_dir, store)  # the subprocess gets its own copy of the index
    return {
        **os.environ,
        "READOUT_STORE": str(store),
        "READOUT_SLACK_API_URL": fake_slack.api_url.rstrip("/"),  # the app must add the slash
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }


class Server:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr: list[str] = []
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace")
            self.stderr.append(line)
            await self._lines.put(line)
        await self._lines.put(None)  # the process closed stderr: it has exited

    async def wait_for_line(self, pattern: str) -> re.Match[str]:
        """The first stderr line matching ``pattern`` (fails with the output so far)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP
        while True:
            try:
                line = await asyncio.wait_for(self._lines.get(), deadline - loop.time())
            except TimeoutError:
                pytest.fail(f"no line matching {pattern!r}; stderr:\n{''.join(self.stderr)}")
            if line is None:
                pytest.fail(f"exited before {pattern!r}; stderr:\n{''.join(self.stderr)}")
            match = re.search(pattern, line)
            if match:
                return match

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), STOP)
        await self._reader
        return code


@asynccontextmanager
async def readout(env: dict[str, str], *args: str) -> AsyncIterator[Server]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    server = Server(process)
    try:
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server._reader


async def test_serve_slack_http_answers_a_signed_ask_and_stops_on_sigterm(
    serve_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    env = {**serve_env, "READOUT_LOG_LEVEL": "DEBUG"}  # the tokens must not leak even so
    async with readout(
        env, "serve", "slack", "--http", "--host", "127.0.0.1", "--port", "0"
    ) as server:
        match = await server.wait_for_line(r"(http://127\.0\.0\.1:\d+/slack/events)")
        url = match.group(1)
        async with aiohttp.ClientSession() as session:
            async with session.get(url.replace("/slack/events", "/healthz")) as health:
                assert health.status == 200
                report = await health.json()  # the same check as `readout health`
                assert report["ok"] is True
                assert report["index"]["ok"] is True and report["model"]["ok"] is True
            slack = SlackHttp(url, session, fake_slack)
            delivery = await slack.command("/ask", QUESTION, key="cli")
            assert delivery.status == 200 and delivery.seconds < 3.0
            await fake_slack.wait_for(lambda: fake_slack.responses_to("cli"))
        assert await server.stop() == 0
    [answer] = fake_slack.responses_to("cli")
    assert "¶12 · " in all_text(answer) and "first red line" in all_text(answer)
    assert fake_slack.posts("auth.test")[0].token == BOT_TOKEN  # checked at start-up
    output = "".join(server.stderr)
    assert "Traceback" not in output
    assert "'Authorization': '(redacted)'" in output  # slack_sdk's DEBUG request log ran
    assert all(secret not in output for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET))


async def test_serve_slack_socket_mode_answers_an_envelope_and_stops_on_sigterm(
    serve_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    async with readout(serve_env, "serve", "slack") as server:
        await server.wait_for_line(r"connected to Slack in Socket Mode")
        payload = command_payload("/ask", QUESTION, fake_slack.response_url("cli"), "U1", "C1")
        envelope = await fake_slack.send_envelope("slash_commands", payload)
        await fake_slack.wait_for(
            lambda: (
                fake_slack.responses_to("cli")
                and any(a.get("envelope_id") == envelope for a in fake_slack.acks)
            )
        )
        assert await server.stop() == 0
    assert "¶12 · " in all_text(fake_slack.responses_to("cli")[0])
    assert "Traceback" not in "".join(server.stderr)


async def test_a_rejected_bot_token_exits_2_with_one_clear_line(
    serve_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    fake_slack.rejected_tokens.add(BOT_TOKEN)
    async with readout(serve_env, "serve", "slack", "--http", "--port", "0") as server:
        code = await asyncio.wait_for(server.process.wait(), STARTUP)
        await server._reader
    output = "".join(server.stderr)
    assert code == 2, output
    assert output.strip().splitlines()[-1] == "error: Slack rejected SLACK_BOT_TOKEN (invalid_auth)"


@pytest.mark.parametrize(
    ("http", "rejected", "message"),
    [
        (True, BOT_TOKEN, r"^Slack rejected SLACK_BOT_TOKEN \(invalid_auth\)$"),
        (False, BOT_TOKEN, r"^Slack rejected SLACK_BOT_TOKEN \(invalid_auth\)$"),
        (False, APP_TOKEN, r"^Slack rejected SLACK_APP_TOKEN \(invalid_auth\); it must be"),
    ],
    ids=["http-bot-token", "socket-bot-token", "socket-app-token"],
)
async def test_rejected_tokens_fail_fast_before_the_model_loads(
    slack_settings: Settings, fake_slack: FakeSlack, http: bool, rejected: str, message: str
) -> None:
    fake_slack.rejected_tokens.add(rejected)
    engine = NeverLoaded()
    with pytest.raises(ConfigError, match=message):
        await serve(slack_settings, engine, http=http, host="127.0.0.1", port=0, announce=print)  # type: ignore[arg-type]
    assert engine.touched == 0


async def test_unreachable_slack_is_a_clear_error(slack_settings: Settings) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = dataclasses.replace(slack_settings, slack_api_url=f"http://127.0.0.1:{port}/api/")
    with pytest.raises(ReadoutError, match=r"^cannot reach Slack at http://127\.0\.0\.1:\d+/api/"):
        await serve(settings, NeverLoaded(), http=False, host="", port=0, announce=print)  # type: ignore[arg-type]


class NeverLoaded:
    """An engine that counts being touched: start-up checks must fail before the model loads."""

    def __init__(self) -> None:
        self.touched = 0

    @property
    def embedder(self) -> None:
        self.touched += 1
        return None

    def snapshot(self) -> None:
        self.touched += 1
