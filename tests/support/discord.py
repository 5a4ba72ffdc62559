"""Fixtures for the Discord end-to-end tests: the local Discord stand-in, an answer service over
the real model and index, and a running readout bot (the real discord.py client) connected to
the stand-in over loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.discord_app import DiscordApp, Shards, create_app, run
from bot.service import AnswerEngine, AnswerService
from bot.settings import Settings
from retrieval.engine import Engine
from tests.support.fake_discord import FakeDiscord
from tests.support.fakes import RecordingFeedback

# Recognisable, so tests can prove it never reaches a log line or the console.
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.fake-discord-token.readout-never-logs-this"
CONNECT_TIMEOUT = 20.0


@dataclass
class RunningBot:
    app: DiscordApp
    task: asyncio.Task[None]
    announced: list[str] = field(default_factory=list)


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture(autouse=True)
def restore_discord_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app() points discord.py's class-level endpoints at the stand-in; put them back."""
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)


@pytest.fixture
def feedback() -> RecordingFeedback:
    return RecordingFeedback()


@pytest.fixture
def make_service(
    article_engine: Engine, feedback: RecordingFeedback
) -> Iterator[Callable[..., AnswerService]]:
    """AnswerService over the real index (or a wrapper of it), closed after the test."""
    services: list[AnswerService] = []

    def make(engine: AnswerEngine | None = None, **options: Any) -> AnswerService:
        service = AnswerService(engine or article_engine, feedback=feedback, **options)
        services.append(service)
        return service

    yield make
    for service in services:
        service.close()


def bot_settings(fake: FakeDiscord, **overrides: Any) -> Settings:
    return Settings(
        discord_token=TOKEN,
        discord_api_url=fake.api_url,
        discord_gateway_url=fake.gateway_url,
        **overrides,
    )


@pytest.fixture
async def start_bot(
    fake_discord: FakeDiscord,
) -> AsyncIterator[Callable[..., Any]]:
    """Start readout's Discord client against the stand-in; waits until it is READY."""
    running: list[RunningBot] = []

    async def start(
        service: AnswerService, *, sync: bool = False, shards: Shards = None, **settings: Any
    ) -> RunningBot:
        config = bot_settings(fake_discord, **settings)
        app = create_app(config, service, shards=shards, guild_ready_timeout=0.05)
        announced: list[str] = []
        task = asyncio.create_task(run(app, sync=sync, announce=announced.append))
        bot = RunningBot(app, task, announced)
        running.append(bot)
        ready = asyncio.create_task(app.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {bot.task, ready}, timeout=CONNECT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if bot.task in done:
                bot.task.result()  # raises what stopped the bot
            raise AssertionError("the bot did not become ready")
        return bot

    yield start
    for bot in running:
        await bot.app.client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(bot.task, CONNECT_TIMEOUT)


@pytest.fixture
async def bot(
    start_bot: Callable[..., Any], make_service: Callable[..., AnswerService]
) -> RunningBot:
    """readout over the real model and index, connected and ready."""
    return await start_bot(make_service())
