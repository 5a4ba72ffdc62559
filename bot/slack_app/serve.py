"""Running the Slack app: :func:`serve`, in Socket Mode or behind an HTTP endpoint.

HTTP mode serves bolt at ``/slack/events`` and ``GET /healthz`` (:class:`bot.serving.
HealthEndpoint`). Both modes check the tokens before the model loads, so a typo fails in a
second, then warm up, serve until SIGINT/SIGTERM, and let answers in flight finish. While
serving, posted answers follow their sources (:func:`bot.updates.start_following`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import AnswerService
from bot.serving import (
    HEALTH_PATH,
    SHUTDOWN_GRACE_SECONDS,
    Announce,
    HealthEndpoint,
    running_site,
    stop_on_signals,
    warm_up,
)
from bot.settings import Settings
from bot.slack_app.app import create_app, create_web_client, listener_tasks
from bot.slack_app.buttons import button_signer
from bot.slack_app.editor import SlackEditor
from bot.updates import start_following, stop_following
from index.errors import ConfigError, ReadoutError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


async def serve(
    settings: Settings,
    service: AnswerService,
    *,
    announce: Announce,
    http: bool = False,
    host: str = "0.0.0.0",
    port: int = 3000,
) -> None:
    """Run the Slack bot until SIGINT or SIGTERM: Socket Mode, or HTTP with ``http=True``."""
    app = create_app(settings, service)
    bot_name = await _check_bot_token(app.client)
    if not http:
        await _check_app_token(app.client, settings.slack_app_token)
    await warm_up(service)
    # answers whose cited text a re-index changes are updated in place (bot.updates)
    editors = [SlackEditor(app.client, button_signer(settings))]
    following = start_following(settings, service, editors)
    try:
        with stop_on_signals() as stopped:
            if http:
                await _serve_http(app, service, host, port, stopped, announce, bot_name)
            else:
                await _serve_socket_mode(app, settings, stopped, announce, bot_name)
            await listener_tasks(app).aclose(SHUTDOWN_GRACE_SECONDS)
    finally:
        await stop_following(following)


def create_web_app(app: AsyncApp, service: AnswerService) -> web.Application:
    """The HTTP-mode aiohttp application: bolt at ``/slack/events`` and ``GET /healthz``."""
    web_app = app.web_app(path=EVENTS_PATH)
    HealthEndpoint(service).add_to(web_app)
    return web_app


@contextlib.asynccontextmanager
async def editor(settings: Settings, service: AnswerService) -> AsyncIterator[SlackEditor]:
    """Slack's :class:`bot.updates.Editor` outside a running bot (``readout index --notify``):
    the Web API client with the bot token, checked first."""
    client = create_web_client(settings)
    await _check_bot_token(client)
    yield SlackEditor(client, button_signer(settings))


async def _check_bot_token(client: AsyncWebClient) -> str:
    """Fail fast, with a message fit to show, when Slack rejects the bot token."""
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        code = exc.response.get("error", "unknown error")
        raise ConfigError(f"Slack rejected SLACK_BOT_TOKEN ({code})") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = type(exc).__name__
        raise ReadoutError(f"cannot reach Slack at {client.base_url} ({reason})") from None
    return str(response.get("user") or "readout")


async def _check_app_token(client: AsyncWebClient, app_token: str) -> None:
    """Fail fast on a rejected app token: slack_sdk's Socket Mode client would retry forever."""
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        code = exc.response.get("error", "unknown error")
        raise ConfigError(
            f"Slack rejected SLACK_APP_TOKEN ({code}); it must be an app-level token (xapp-…) "
            "with the connections:write scope"
        ) from None


async def _serve_http(
    app: AsyncApp,
    service: AnswerService,
    host: str,
    port: int,
    stopped: asyncio.Event,
    announce: Announce,
    bot_name: str,
) -> None:
    async with running_site(create_web_app(app, service), host, port) as (bound, bound_port):
        announce(
            f"readout (@{bot_name}) is answering Slack events at "
            f"http://{bound}:{bound_port}{EVENTS_PATH} (health: {HEALTH_PATH}). Ctrl-C stops."
        )
        await stopped.wait()


async def _serve_socket_mode(
    app: AsyncApp,
    settings: Settings,
    stopped: asyncio.Event,
    announce: Announce,
    bot_name: str,
) -> None:
    handler = AsyncSocketModeHandler(app, app_token=settings.slack_app_token)
    try:
        await handler.connect_async()
        announce(f"readout (@{bot_name}) is connected to Slack in Socket Mode. Ctrl-C stops.")
        await stopped.wait()
    finally:
        await handler.close_async()
