"""The Slack adapter: a slack-bolt ``AsyncApp`` for /ask, /quote, /source, @mentions and DMs.

It owns only Slack plumbing; answering is :class:`bot.service.AnswerService`'s job and the
look of a reply is :mod:`bot.render_slack`'s:

* :func:`create_app` builds the app (a factory: nothing happens at import time). Every listener
  acknowledges at once and answers in a bolt *lazy listener*, so Slack's 3-second deadline never
  waits for the model. Lazy listeners run as tasks this module tracks (:class:`ListenerTasks`),
  so answers in flight are neither garbage-collected nor dropped at shutdown.
* Slash commands answer through their ``response_url`` (in the channel; notices only to the
  asker); mentions answer in the message's thread and DMs in the DM, with ``chat.postMessage``.
* A message is answered once however often Slack delivers it: the delivery id is the message's
  channel and timestamp, the same for a retry (``X-Slack-Retry-Num``) and for a DM that arrives
  as both ``message.im`` and ``app_mention``.
* :func:`serve` runs the app in Socket Mode or behind an HTTP endpoint (``/slack/events``, plus
  ``GET /healthz``) until SIGINT/SIGTERM.

Failures reaching Slack are logged with Slack's error code only; anything unexpected is logged
with its traceback and the person gets a generic apology, never the exception's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.question_log import QuestionLog
from bot.render_slack import (
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    SHOW_SOURCES,
    SlackMessage,
    render_notice,
    render_reply,
    render_sources,
)
from bot.service import EXPIRED, FAILED, AnswerService, Asker, Reply, ReplyKind
from bot.settings import Settings
from index.errors import ConfigError, ReadoutError
from retrieval.engine import Engine

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2
SHUTDOWN_GRACE_SECONDS = 10.0
THANKS = "Thanks for the feedback!"
Payload = dict[str, Any]
_MARKUP = re.compile(r"<([^<>]*)>")  # Slack wraps mentions, channels and links in <...>


class ListenerTasks(AsyncLazyListenerRunner):
    """Runs bolt's lazy listeners as tasks it keeps, so they can be awaited.

    bolt's default runner calls ``asyncio.ensure_future`` and drops the task: the event loop
    only holds weak references, and shutdown cannot wait for answers still being written.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks: set[asyncio.Future[None]] = set()

    def start(self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest) -> None:
        task = asyncio.ensure_future(
            to_runnable_function(internal_func=function, logger=self.logger, request=request)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no lazy listener is running (including ones started meanwhile); False if
        some are still running after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def aclose(self, timeout: float) -> None:
        """Let running answers finish for up to ``timeout`` seconds, then cancel the rest."""
        if not await self.wait_idle(timeout):
            unfinished = list(self._tasks)
            log.warning("cancelling %d unfinished Slack replies at shutdown", len(unfinished))
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)


def create_web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: ``READOUT_SLACK_API_URL``, the bot token, retries on 429 and 5xx."""
    base_url = settings.slack_api_url
    if not base_url.endswith("/"):
        # slack_sdk joins base_url and the method with urljoin: ".../api" would lose "api"
        base_url += "/"
    return AsyncWebClient(
        token=settings.slack_bot_token or None,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            # 429s carry Retry-After; the handler sleeps that long before trying again
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            # slack_sdk gives up on a 500/503 by default, and the answer would be lost; a
            # bounded retry with backoff rides out Slack's brief hiccups
            AsyncServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
        ],
    )


def create_app(
    settings: Settings, service: AnswerService, *, client: AsyncWebClient | None = None
) -> AsyncApp:
    """A bolt app answering /ask, /quote, /source, mentions, DMs and the answer buttons."""
    app = AsyncApp(
        name="readout",
        client=client or create_web_client(settings),
        # Only HTTP mode uses it; passing it (even "") stops bolt reading the environment itself.
        signing_secret=settings.slack_signing_secret,
    )
    app.listener_runner.lazy_listener_runner = ListenerTasks(app.logger)

    async def acknowledge(ack: AsyncAck) -> None:
        await ack()  # within Slack's 3 s, before any work: the answer follows from a lazy listener

    async def answer_ask(command: Payload, respond: AsyncRespond) -> None:
        asker, text = _command_asker(command), question_text(command.get("text", ""))
        await _deliver(service.ask(asker, text), _ResponseUrl(respond))

    async def answer_quote(command: Payload, respond: AsyncRespond) -> None:
        asker, text = _command_asker(command), question_text(command.get("text", ""))
        await _deliver(service.quotes(asker, text), _ResponseUrl(respond))

    async def answer_source(command: Payload, respond: AsyncRespond) -> None:
        asker, text = _command_asker(command), question_text(command.get("text", ""))
        await _deliver(service.source(asker, text), _ResponseUrl(respond))

    async def answer_mention(event: Payload, client: AsyncWebClient) -> None:
        if _from_a_bot(event):
            return
        channel = event.get("channel", "")
        where = _Conversation(
            client,
            channel=channel,
            user=event.get("user", ""),
            thread_ts=event.get("thread_ts") or event.get("ts"),  # the mention's own thread
            notices_public=_is_dm(channel),
        )
        question = question_text(event.get("text", ""))
        asking = service.ask(_event_asker(event), question, delivery_id=_message_key(event))
        await _deliver(asking, where)

    async def answer_dm(event: Payload, client: AsyncWebClient) -> None:
        # Edits, deletions, joins and bot posts arrive as message subtypes: only plain messages
        # in a DM are questions. Channel messages reach us only if someone over-subscribes.
        if event.get("channel_type") != "im" or event.get("subtype") or _from_a_bot(event):
            return
        channel = event.get("channel", "")
        where = _Conversation(
            client,
            channel=channel,
            user=event.get("user", ""),
            thread_ts=event.get("thread_ts"),  # answer where they wrote: the DM or its thread
            notices_public=True,
        )
        question = question_text(event.get("text", ""))
        asking = service.ask(_event_asker(event), question, delivery_id=_message_key(event))
        await _deliver(asking, where)

    async def show_sources(action: Payload, respond: AsyncRespond) -> None:
        answer = service.recent_answer(str(action.get("value", "")))
        where = _ResponseUrl(respond)
        async with _reported(where):
            if answer is None:
                await where.private(render_notice(EXPIRED))
                return
            for message in render_sources(answer):
                await where.private(message)

    async def record_vote(body: Payload, action: Payload, respond: AsyncRespond) -> None:
        vote = 1 if action.get("action_id") == FEEDBACK_UP else -1
        recorded = service.record_feedback(str(action.get("value", "")), _action_asker(body), vote)
        where = _ResponseUrl(respond)
        async with _reported(where):
            await where.private(render_notice(THANKS if recorded else EXPIRED))

    app.command("/ask")(ack=acknowledge, lazy=[answer_ask])
    app.command("/quote")(ack=acknowledge, lazy=[answer_quote])
    app.command("/source")(ack=acknowledge, lazy=[answer_source])
    app.event("app_mention")(ack=acknowledge, lazy=[answer_mention])
    # Every message event is acknowledged (an unhandled one gets a 404 and Slack retries it);
    # answer_dm keeps only plain DMs.
    app.event("message")(ack=acknowledge, lazy=[answer_dm])
    app.action(SHOW_SOURCES)(ack=acknowledge, lazy=[show_sources])
    votes = re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$")
    app.action(votes)(ack=acknowledge, lazy=[record_vote])
    return app


def listener_tasks(app: AsyncApp) -> ListenerTasks:
    """The app's running answers (see :class:`ListenerTasks`)."""
    runner = app.listener_runner.lazy_listener_runner
    if not isinstance(runner, ListenerTasks):
        raise TypeError("not an app made by create_app")
    return runner


HealthProbe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def create_web_app(app: AsyncApp, health: HealthProbe | None = None) -> web.Application:
    """The HTTP-mode aiohttp application: bolt at ``/slack/events`` and ``GET /healthz``.

    ``health`` is the readiness check (``readout health``'s); without one, ``/healthz`` only
    says the process is up.
    """

    async def healthz(request: web.Request) -> web.Response:
        if health is None:
            return web.json_response({"ok": True})
        ok, report = await health()
        return web.json_response(report, status=200 if ok else 503)

    web_app = app.web_app(path=EVENTS_PATH)
    web_app.router.add_get(HEALTH_PATH, healthz)
    return web_app


def health_probe(settings: Settings, engine: Engine) -> HealthProbe:
    """``readout health``'s check for ``/healthz``, reusing the bot's loaded model and store."""
    from bot.health import check_health
    from index.store import ChromaStore

    store = engine.store if isinstance(engine.store, ChromaStore) else None

    async def probe() -> tuple[bool, dict[str, Any]]:
        # The check may wait on a silent Chroma server: keep it off the event loop.
        report = await asyncio.to_thread(
            check_health, settings, store=store, embedder=engine.embedder
        )
        return report.ok, report.to_json()

    return probe


async def serve(
    settings: Settings,
    engine: Engine,
    *,
    http: bool,
    host: str,
    port: int,
    announce: Callable[[str], None],
    question_log: QuestionLog | None = None,
) -> None:
    """Run the Slack bot until SIGINT or SIGTERM: Socket Mode, or HTTP with ``http=True``.

    Questions and votes go to ``question_log`` when one is given."""
    service = AnswerService.from_settings(settings, engine, question_log=question_log)
    try:
        app = create_app(settings, service)
        # Check the tokens before the slow part (loading the model), so a typo fails in a second
        bot_name = await _check_bot_token(app.client)
        if not http:
            await _check_app_token(app.client, settings.slack_app_token)
        # Load the model and the index here, not only in service.start(): that runs under the
        # per-answer timeout, which a cold start can exceed, and turns a ModelError or
        # IndexMissing into a generic refusal instead of the message the CLI should print.
        await asyncio.to_thread(_load, engine)
        await service.start()
        with _stop_on_signals() as stopped:
            if http:
                await _serve_http(
                    app, host, port, stopped, announce, bot_name, health_probe(settings, engine)
                )
            else:
                await _serve_socket_mode(app, settings, stopped, announce, bot_name)
            await listener_tasks(app).aclose(SHUTDOWN_GRACE_SECONDS)
    finally:
        service.close()


# -- replying ------------------------------------------------------------------------------


class _Destination(Protocol):
    async def public(self, message: SlackMessage) -> None: ...
    async def private(self, message: SlackMessage) -> None: ...


class _ResponseUrl:
    """Replies through a slash command's or a button's ``response_url``."""

    def __init__(self, respond: AsyncRespond) -> None:
        self._respond = respond

    async def public(self, message: SlackMessage) -> None:
        await self._send(message, "in_channel")

    async def private(self, message: SlackMessage) -> None:
        await self._send(message, "ephemeral")

    async def _send(self, message: SlackMessage, response_type: str) -> None:
        response = await self._respond(
            text=message.text,
            blocks=list(message.blocks) or None,
            response_type=response_type,
            replace_original=False,  # a button's reply must not overwrite the answer it is under
        )
        if response.status_code != 200:
            log.warning("response_url post failed with HTTP %d", response.status_code)


class _Conversation:
    """Replies in a channel thread or a DM with ``chat.postMessage``; notices in a channel are
    ephemeral (only the asker sees them)."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        user: str,
        thread_ts: str | None,
        notices_public: bool,
    ) -> None:
        self._client = client
        self._channel = channel
        self._user = user
        self._thread_ts = thread_ts
        self._notices_public = notices_public

    async def public(self, message: SlackMessage) -> None:
        await self._client.chat_postMessage(
            channel=self._channel,
            thread_ts=self._thread_ts,
            text=message.text,
            blocks=list(message.blocks) or None,
            unfurl_links=False,
            unfurl_media=False,
        )

    async def private(self, message: SlackMessage) -> None:
        if self._notices_public or not self._user:
            await self.public(message)
            return
        await self._client.chat_postEphemeral(
            channel=self._channel, user=self._user, thread_ts=self._thread_ts, text=message.text
        )


async def _deliver(asking: Awaitable[Reply], where: _Destination) -> None:
    """Wait for the core's reply and post it: answers publicly, notices privately."""
    async with _reported(where):
        reply = await asking
        if reply.kind is ReplyKind.DUPLICATE:
            log.info("ignored a repeated Slack delivery")
            return
        for message in render_reply(reply):
            await (where.public(message) if reply.is_public else where.private(message))


@contextlib.asynccontextmanager
async def _reported(where: _Destination) -> AsyncIterator[None]:
    """Log failures without their text reaching Slack: Slack's error code for API errors; a
    traceback and a generic apology for anything else."""
    try:
        yield
    except SlackApiError as exc:
        log.warning("Slack API call failed: %s", exc.response.get("error", "unknown error"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("could not reach Slack: %s", type(exc).__name__)
    except Exception:
        log.exception("Slack listener failed")
        try:
            await where.private(render_notice(FAILED))
        except Exception:  # best effort: the failure itself is already logged
            log.warning("could not send the apology either")


# -- events --------------------------------------------------------------------------------


def _command_asker(command: Payload) -> Asker:
    channel = str(command.get("channel_id", ""))
    return Asker(PLATFORM, str(command.get("user_id", "")), "im" if _is_dm(channel) else "channel")


def _event_asker(event: Payload) -> Asker:
    channel = str(event.get("channel", ""))
    return Asker(PLATFORM, str(event.get("user", "")), "im" if _is_dm(channel) else "channel")


def _action_asker(body: Payload) -> Asker:
    user = body.get("user") or {}
    channel = body.get("channel") or {}
    kind = "im" if _is_dm(str(channel.get("id", ""))) else "channel"
    return Asker(PLATFORM, str(user.get("id", "")), kind)


def _is_dm(channel: str) -> bool:
    return channel.startswith("D")  # Slack's DM channel ids start with D


def _from_a_bot(event: Payload) -> bool:
    """Messages from bots (ours is already dropped by bolt) are never questions: two bots
    could otherwise answer each other forever."""
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    return event.get("subtype") == "bot_message"


def _message_key(event: Payload) -> str:
    """One id per message, whichever event and however many deliveries bring it."""
    return f"{PLATFORM}:{event.get('channel', '')}:{event.get('ts', '')}"


def question_text(text: str) -> str:
    """What a person asked, from Slack's message markup: mentions and broadcasts dropped
    (``<@U123>``, ``<!here>`` mean nothing to the documents, and an unknown name would make the
    engine abstain), ``<#C1|general>`` → ``#general``, links → their label, and Slack's
    ``&lt;`` ``&gt;`` ``&amp;`` → the characters the person typed. The renderer escapes
    everything again on the way out."""

    def plain(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("!date^"):
            return label
        if target.startswith(("@", "!")):
            return " "
        if target.startswith("#"):
            return f"#{label}" if label else " "
        return label or target

    unmarked = " ".join(_MARKUP.sub(plain, text).split())
    return unmarked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- serving -------------------------------------------------------------------------------


def _load(engine: Engine) -> None:
    load = getattr(engine.embedder, "load", None)
    if callable(load):
        load()
    engine.snapshot()


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
    host: str,
    port: int,
    stopped: asyncio.Event,
    announce: Callable[[str], None],
    bot_name: str,
    health: HealthProbe,
) -> None:
    runner = web.AppRunner(create_web_app(app, health), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
        bound_host, bound_port = runner.addresses[0][:2]
        announce(
            f"readout (@{bot_name}) is answering Slack events at "
            f"http://{bound_host}:{bound_port}{EVENTS_PATH} (health: {HEALTH_PATH}). Ctrl-C stops."
        )
        await stopped.wait()
    finally:
        await runner.cleanup()


async def _serve_socket_mode(
    app: AsyncApp,
    settings: Settings,
    stopped: asyncio.Event,
    announce: Callable[[str], None],
    bot_name: str,
) -> None:
    handler = AsyncSocketModeHandler(app, app_token=settings.slack_app_token)
    try:
        await handler.connect_async()
        announce(f"readout (@{bot_name}) is connected to Slack in Socket Mode. Ctrl-C stops.")
        await stopped.wait()
    finally:
        await handler.close_async()


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM (``docker stop``), so shutdown is orderly."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # e.g. Windows
            loop.add_signal_handler(sig, stopped.set)
            installed.append(sig)
    try:
        yield stopped
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
