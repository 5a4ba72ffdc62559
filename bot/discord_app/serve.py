"""Running the Discord app: :func:`serve` logs in, starts up, connects, and stops cleanly.

Start-up (the invite URL, ``--sync``, loading the model) runs in discord.py's ``setup_hook``
(see :class:`bot.discord_app.app.DiscordApp`), so a bad token fails at login, before the model
loads. SIGINT/SIGTERM let answers in flight finish, then close the connection. With
``health_port``, ``GET /healthz`` is served beside the bot (:func:`bot.serving.health_server`).
Discord's refusals become readout's error tree: ``ConfigError`` (bad token, bad guild) or
``ReadoutError`` (Discord unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import discord

from bot.discord_app.app import DEFAULT_GUILD_READY_TIMEOUT, DiscordApp, Shards, create_app
from bot.discord_app.editor import DiscordEditor
from bot.discord_app.render import corpus_label
from bot.service import AnswerService
from bot.serving import SHUTDOWN_GRACE_SECONDS, Announce, health_server, stop_on_signals
from bot.settings import Settings
from index.errors import ConfigError, ReadoutError

log = logging.getLogger(__name__)

HEALTH_HOST = "0.0.0.0"


async def serve(
    settings: Settings,
    service: AnswerService,
    *,
    announce: Announce,
    sync: bool = False,
    shards: Shards = None,
    health_port: int | None = None,
    guild_ready_timeout: float = DEFAULT_GUILD_READY_TIMEOUT,
) -> None:
    """Run the Discord bot until SIGINT or SIGTERM (``readout serve discord``)."""
    if settings.discord_guild and not settings.discord_guild.isdigit():
        raise ConfigError("READOUT_DISCORD_GUILD must be a numeric guild id")
    app = create_app(settings, service, shards=shards, guild_ready_timeout=guild_ready_timeout)
    closing: set[asyncio.Task[None]] = set()

    def stop() -> None:
        task = asyncio.get_running_loop().create_task(close(app))
        closing.add(task)
        task.add_done_callback(closing.discard)

    with stop_on_signals(stop):
        async with contextlib.AsyncExitStack() as stack:
            if health_port is not None:
                url = await stack.enter_async_context(
                    health_server(service, HEALTH_HOST, health_port)
                )
                announce(f"Health check at {url}")
            await run(app, announce=announce, sync=sync)


async def run(app: DiscordApp, *, announce: Announce, sync: bool = False) -> None:
    """Log in (start-up runs in ``setup_hook``), connect, and return once the client is closed."""
    client = app.client
    app.announce = announce
    app.sync = sync
    try:
        async with client:
            try:
                await _login(client, app.settings)
            except Exception:
                if client.is_closed():  # stopped (Ctrl-C, SIGTERM) while starting: not a failure
                    log.debug("stopped while starting", exc_info=True)
                    return
                raise
            await _connect(client)
    finally:
        await app.stop_following()  # started in setup_hook (bot.updates)


@contextlib.asynccontextmanager
async def editor(settings: Settings, service: AnswerService) -> AsyncIterator[DiscordEditor]:
    """Discord's :class:`bot.updates.Editor` outside a running bot (``readout index
    --notify``): the client logged in for REST calls only, with no gateway connection."""
    app = create_app(settings, service)
    async with app.client:
        await _login(app.client, settings)
        app.corpus = corpus_label(await service.titles())
        yield DiscordEditor(app)


async def close(app: DiscordApp, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
    """Let the answers being written finish (up to ``grace`` seconds), then disconnect."""
    log.info("stopping: finishing answers, then closing the Discord connection")
    await app.stop_following()
    await app.in_flight.aclose(grace)
    await app.client.close()


async def _login(client: discord.Client, settings: Settings) -> None:
    api = settings.discord_api_url
    try:
        await client.login(settings.discord_token)
    except discord.LoginFailure:
        raise ConfigError(
            "Discord rejected DISCORD_TOKEN (401 Unauthorized): copy the bot token again from "
            "the Developer Portal (your application → Bot → Reset Token)."
        ) from None
    except discord.HTTPException as exc:
        raise ReadoutError(
            f"Discord's API at {api} answered HTTP {exc.status} while logging in; try again later."
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ReadoutError(f"cannot reach Discord's API at {api} ({type(exc).__name__}).") from None


async def _connect(client: discord.Client) -> None:
    try:
        await client.connect(reconnect=True)
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(
            "Discord says this bot needs a privileged intent it was not granted."
        ) from None
    except discord.ConnectionClosed as exc:
        if exc.code == 4004:
            raise ConfigError(
                "Discord's gateway rejected DISCORD_TOKEN (close code 4004)."
            ) from None
        raise ReadoutError(
            f"Discord closed the gateway connection (close code {exc.code})."
        ) from None
    except discord.GatewayNotFound:
        raise ReadoutError("cannot find Discord's gateway; try again later.") from None
