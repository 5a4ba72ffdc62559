"""`readout serve slack`, run as a user runs it: a subprocess with the real model and a real index,
talking to the local Slack stand-in over loopback (HTTP mode and Socket Mode), stopped by
SIGTERM the way ``docker stop`` stops it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.service import AnswerService
from bot.settings import Settings
from bot.slack_app import serve
from index.errors import ConfigError, ReadoutError
from tests.support.fakes import FakeEngine
from tests.support.processes import STARTUP, readout
from tests.support.slack import (
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
    service = AnswerService(engine)
    try:
        with pytest.raises(ConfigError, match=message):
            await serve(slack_settings, service, announce=print, http=http, port=0)
    finally:
        service.close()
    assert engine.touched == 0


async def test_unreachable_slack_is_a_clear_error(slack_settings: Settings) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = dataclasses.replace(slack_settings, slack_api_url=f"http://127.0.0.1:{port}/api/")
    service = AnswerService(NeverLoaded())
    try:
        with pytest.raises(
            ReadoutError, match=r"^cannot reach Slack at http://127\.0\.0\.1:\d+/api/"
        ):
            await serve(settings, service, announce=print, http=False)
    finally:
        service.close()


class NeverLoaded(FakeEngine):
    """An engine that counts being warmed up: start-up checks must fail before the model loads."""

    def __init__(self) -> None:
        super().__init__()
        self.touched = 0

    def warm_up(self) -> None:
        self.touched += 1
