"""The Slack app: a slack-bolt ``AsyncApp`` for /ask, /quote, /source, @mentions and DMs.

It owns only Slack plumbing; answering is :class:`bot.service.AnswerService`'s job, the look of
a reply :mod:`bot.slack_app.render`'s, posting it :mod:`bot.slack_app.replies`'s, and the
answer's buttons :mod:`bot.slack_app.buttons`':

* :func:`create_app` builds the app (a factory: nothing happens at import time). Every listener
  acknowledges at once and answers in a bolt *lazy listener*, so Slack's 3-second deadline never
  waits for the model. Lazy listeners run as tasks this module tracks (:class:`ListenerTasks`),
  so answers in flight are neither garbage-collected nor dropped at shutdown.
* Slash commands answer through their ``response_url`` (in the channel; notices only to the
  asker); mentions answer in the message's thread and DMs in the DM, with ``chat.postMessage``.
* A message is answered once however often Slack delivers it: the delivery id is the message's
  channel and timestamp, the same for a retry (``X-Slack-Retry-Num``) and for a DM that arrives
  as both ``message.im`` and ``app_mention``.
* Requests no listener wants are acknowledged (:func:`_on_error`); a listener's failure is
  logged with its traceback, never shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import commands
from bot.conversations import Thread
from bot.service import AnswerService
from bot.serving import InFlight
from bot.settings import Settings
from bot.slack_app.buttons import button_signer, register_buttons
from bot.slack_app.replies import (
    PLATFORM,
    Conversation,
    Payload,
    ResponseUrl,
    command_asker,
    deliver,
    event_asker,
    is_dm,
)
from bot.slack_app.threads import thread_of

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2
_MARKUP = re.compile(r"<([^<>]*)>")  # Slack wraps mentions, channels and links in <...>


class ListenerTasks(AsyncLazyListenerRunner):
    """Runs bolt's lazy listeners as tasks it keeps (:class:`bot.serving.InFlight`).

    bolt's default runner calls ``asyncio.ensure_future`` and drops the task: the event loop
    only holds weak references, and shutdown cannot wait for answers still being written.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.in_flight = InFlight()

    def start(self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest) -> None:
        self.in_flight.spawn(
            to_runnable_function(internal_func=function, logger=self.logger, request=request)
        )

    async def wait_idle(self, timeout: float) -> bool:
        """See :meth:`bot.serving.InFlight.wait_idle`."""
        return await self.in_flight.wait_idle(timeout)

    async def aclose(self, timeout: float) -> None:
        """See :meth:`bot.serving.InFlight.aclose`."""
        await self.in_flight.aclose(timeout)


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
        # Slack sends requests no listener wants (app_rate_limited needs no subscription; Home
        # tab opens, uninstalls, reactions, buttons from older versions): bolt would answer
        # them 404, Slack may then disable the event subscription and shows clickers a
        # warning. Raising routes them to _on_error below, which acknowledges them.
        raise_error_for_unhandled_request=True,
    )
    app.listener_runner.lazy_listener_runner = ListenerTasks(app.logger)
    signer = button_signer(settings)

    async def acknowledge(ack: AsyncAck) -> None:
        await ack()  # within Slack's 3 s, before any work: the answer follows from a lazy listener

    async def answer_ask(command: Payload, respond: AsyncRespond) -> None:
        asker, text = command_asker(command), question_text(command.get("text", ""))
        await deliver(service.ask(asker, text), ResponseUrl(respond), signer)

    async def answer_quote(command: Payload, respond: AsyncRespond) -> None:
        asker, text = command_asker(command), question_text(command.get("text", ""))
        await deliver(service.quote(asker, text), ResponseUrl(respond), signer)

    async def answer_source(command: Payload, respond: AsyncRespond) -> None:
        asker, text = command_asker(command), question_text(command.get("text", ""))
        await deliver(service.source(asker, text), ResponseUrl(respond), signer)

    async def answer_mention(event: Payload, client: AsyncWebClient) -> None:
        if _from_a_bot(event):
            return
        channel = event.get("channel", "")
        where = Conversation(
            client,
            channel=channel,
            user=event.get("user", ""),
            thread_ts=event.get("thread_ts") or event.get("ts"),  # the mention's own thread
            notices_public=is_dm(channel),
        )
        question = question_text(event.get("text", ""))
        # A mention outside a thread starts one (the answer goes there): nothing to read back.
        thread_ts = event.get("thread_ts")
        thread = thread_of(client, signer, channel, thread_ts or event.get("ts", ""))
        if not thread_ts:
            thread = Thread(thread.key)
        asking = service.ask(
            event_asker(event), question, delivery_id=_message_key(event), thread=thread
        )
        await deliver(asking, where, signer, service)

    async def answer_dm(event: Payload, client: AsyncWebClient) -> None:
        # Edits, deletions, joins and bot posts arrive as message subtypes too: only messages a
        # person typed in a DM are questions. Channel messages reach us only if someone
        # over-subscribes.
        if event.get("channel_type") != "im" or not _typed_by_a_person(event):
            return
        channel = event.get("channel", "")
        where = Conversation(
            client,
            channel=channel,
            user=event.get("user", ""),
            thread_ts=event.get("thread_ts"),  # answer where they wrote: the DM or its thread
            notices_public=True,
        )
        question = question_text(event.get("text", ""))
        thread = thread_of(client, signer, channel, event.get("thread_ts"))
        asking = service.ask(
            event_asker(event), question, delivery_id=_message_key(event), thread=thread
        )
        await deliver(asking, where, signer, service)

    app.command(f"/{commands.ASK.name}")(ack=acknowledge, lazy=[answer_ask])
    app.command(f"/{commands.QUOTE.name}")(ack=acknowledge, lazy=[answer_quote])
    app.command(f"/{commands.SOURCE.name}")(ack=acknowledge, lazy=[answer_source])
    app.event("app_mention")(ack=acknowledge, lazy=[answer_mention])
    # Every message event is acknowledged (an unhandled one gets a 404 and Slack retries it);
    # answer_dm keeps only plain DMs.
    app.event("message")(ack=acknowledge, lazy=[answer_dm])
    register_buttons(app, service, signer)
    app.error(_on_error)
    return app


async def _on_error(
    error: Exception, request: AsyncBoltRequest, response: BoltResponse | None
) -> BoltResponse | None:
    """bolt's error handler: acknowledges requests no listener handles; logs anything else
    with its traceback, as bolt's default handler does."""
    if isinstance(error, BoltUnhandledRequestError):
        # Routine, and one per Slack event: DEBUG, with the type only (never the payload)
        log.debug("acknowledged an unhandled Slack request: %s", _request_type(request.body))
        return BoltResponse(status=200, body="")
    log.error("Slack listener failed", exc_info=error)
    return None


def _request_type(body: Payload) -> str:
    event = body.get("event")
    if isinstance(event, dict) and event.get("type"):
        return f"event {event['type']}"
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return f"action {actions[0].get('action_id', '?')}"
    return str(body.get("type") or body.get("command") or "unknown")


def listener_tasks(app: AsyncApp) -> ListenerTasks:
    """The app's running answers (see :class:`ListenerTasks`)."""
    runner = app.listener_runner.lazy_listener_runner
    if not isinstance(runner, ListenerTasks):
        raise TypeError("not an app made by create_app")
    return runner


# -- events --------------------------------------------------------------------------------


def _from_a_bot(event: Payload) -> bool:
    """Messages from bots (ours is already dropped by bolt) are never questions: two bots
    could otherwise answer each other forever."""
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    return event.get("subtype") == "bot_message"


# Subtypes that still carry a message a person wrote: a DM with a screenshot attached, and a
# thread reply also sent to the conversation. Every other subtype (edits, deletions, joins, bot
# posts ...) is Slack describing a change, and answering it could loop with another bot.
_TYPED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def _typed_by_a_person(event: Payload) -> bool:
    return event.get("subtype") in _TYPED_SUBTYPES and not _from_a_bot(event)


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
