"""The Slack app: a slack-bolt ``AsyncApp`` for /ask, /quote, /source, @mentions and DMs.

It owns only Slack plumbing; answering is :class:`bot.service.AnswerService`'s job and the
look of a reply is :mod:`bot.slack_app.render`'s:

* :func:`create_app` builds the app (a factory: nothing happens at import time). Every listener
  acknowledges at once and answers in a bolt *lazy listener*, so Slack's 3-second deadline never
  waits for the model. Lazy listeners run as tasks this module tracks (:class:`ListenerTasks`),
  so answers in flight are neither garbage-collected nor dropped at shutdown.
* Slash commands answer through their ``response_url`` (in the channel; notices only to the
  asker); mentions answer in the message's thread and DMs in the DM, with ``chat.postMessage``.
* Answers posted with ``chat.postMessage`` are kept (channel and ts, :meth:`bot.service.
  AnswerService.posted`) so :class:`SlackEditor` can ``chat.update`` them when a re-index
  changes what they cite (``bot.updates``). A ``response_url`` post has no ts and cannot be
  addressed later, so slash-command answers are not followed. "Ask again", on an answer whose
  sources changed, answers its question anew in the message's thread.
* A message is answered once however often Slack delivers it: the delivery id is the message's
  channel and timestamp, the same for a retry (``X-Slack-Retry-Num``) and for a DM that arrives
  as both ``message.im`` and ``app_mention``.

Failures reaching Slack are logged with Slack's error code only; anything unexpected is logged
with its traceback and the person gets a generic apology, never the exception's text.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import aiohttp
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.error import BoltUnhandledRequestError
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

from bot import commands
from bot.buttons import AnswerRef, ButtonSigner, InvalidButton, answer_ref
from bot.conversations import Thread
from bot.service import (
    CHANNEL,
    DM,
    FAILED,
    INVALID_BUTTON,
    AnswerService,
    Asker,
    Reply,
    ReplyKind,
)
from bot.serving import InFlight
from bot.settings import Settings
from bot.slack_app.render import (
    ASK_AGAIN,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    SHOW_SOURCES,
    SlackMessage,
    render_notice,
    render_reply,
    render_sources,
    render_update,
)
from bot.slack_app.threads import thread_of
from bot.updates import EditRefused, Update

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2
THANKS = "Thanks for the feedback!"
Payload = dict[str, Any]
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
        asker, text = _command_asker(command), question_text(command.get("text", ""))
        await _deliver(service.ask(asker, text), _ResponseUrl(respond), signer)

    async def answer_quote(command: Payload, respond: AsyncRespond) -> None:
        asker, text = _command_asker(command), question_text(command.get("text", ""))
        await _deliver(service.quote(asker, text), _ResponseUrl(respond), signer)

    async def answer_source(command: Payload, respond: AsyncRespond) -> None:
        asker, text = _command_asker(command), question_text(command.get("text", ""))
        await _deliver(service.source(asker, text), _ResponseUrl(respond), signer)

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
        # A mention outside a thread starts one (the answer goes there): nothing to read back.
        thread_ts = event.get("thread_ts")
        thread = thread_of(client, signer, channel, thread_ts or event.get("ts", ""))
        if not thread_ts:
            thread = Thread(thread.key)
        asking = service.ask(
            _event_asker(event), question, delivery_id=_message_key(event), thread=thread
        )
        await _deliver(asking, where, signer, service)

    async def answer_dm(event: Payload, client: AsyncWebClient) -> None:
        # Edits, deletions, joins and bot posts arrive as message subtypes too: only messages a
        # person typed in a DM are questions. Channel messages reach us only if someone
        # over-subscribes.
        if event.get("channel_type") != "im" or not _typed_by_a_person(event):
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
        thread = thread_of(client, signer, channel, event.get("thread_ts"))
        asking = service.ask(
            _event_asker(event), question, delivery_id=_message_key(event), thread=thread
        )
        await _deliver(asking, where, signer, service)

    async def show_sources(body: Payload, action: Payload, respond: AsyncRespond) -> None:
        where = _ResponseUrl(respond)
        async with _reported(where):
            ref = _opened(signer, action)
            if ref is None:
                await where.private(render_notice(INVALID_BUTTON))
                return
            reply = await service.sources(_action_asker(body), ref)
            if reply.answer is None:
                await where.private(render_notice(reply.text))
                return
            for message in render_sources(reply.answer, reply.text):
                await where.private(message)

    async def ask_again(body: Payload, action: Payload, client: AsyncWebClient) -> None:
        # On an answer whose sources changed and no longer answer it: the question (the
        # button's value) asked anew, answered in the message's thread like a mention.
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        where = _Conversation(
            client,
            channel=channel,
            user=str((body.get("user") or {}).get("id") or ""),
            thread_ts=container.get("thread_ts") or container.get("message_ts"),
            notices_public=_is_dm(channel),
        )
        asking = service.ask(_action_asker(body), str(action.get("value", "")))
        await _deliver(asking, where, signer, service)

    async def record_vote(body: Payload, action: Payload, respond: AsyncRespond) -> None:
        where = _ResponseUrl(respond)
        async with _reported(where):
            ref = _opened(signer, action)
            if ref is None:
                await where.private(render_notice(INVALID_BUTTON))
                return
            vote = 1 if action.get("action_id") == FEEDBACK_UP else -1
            service.record_feedback(ref.answer_id, _action_asker(body), vote)
            await where.private(render_notice(THANKS))

    app.command(f"/{commands.ASK.name}")(ack=acknowledge, lazy=[answer_ask])
    app.command(f"/{commands.QUOTE.name}")(ack=acknowledge, lazy=[answer_quote])
    app.command(f"/{commands.SOURCE.name}")(ack=acknowledge, lazy=[answer_source])
    app.event("app_mention")(ack=acknowledge, lazy=[answer_mention])
    # Every message event is acknowledged (an unhandled one gets a 404 and Slack retries it);
    # answer_dm keeps only plain DMs.
    app.event("message")(ack=acknowledge, lazy=[answer_dm])
    app.action(SHOW_SOURCES)(ack=acknowledge, lazy=[show_sources])
    votes = re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$")
    app.action(votes)(ack=acknowledge, lazy=[record_vote])
    app.action(ASK_AGAIN)(ack=acknowledge, lazy=[ask_again])
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


def button_signer(settings: Settings) -> ButtonSigner:
    """The key every replica of this Slack app shares (see :mod:`bot.buttons`)."""
    return ButtonSigner.from_secrets(
        settings.button_secret, settings.slack_signing_secret, settings.slack_bot_token
    )


def _opened(signer: ButtonSigner, action: Payload) -> AnswerRef | None:
    """The answer a clicked button is under; None (logged, without the value) if forged."""
    try:
        return signer.open(str(action.get("value", "")))
    except InvalidButton as exc:
        log.info("refused a Slack button click: %s", exc)
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


# -- replying ------------------------------------------------------------------------------


class _Destination(Protocol):
    async def public(self, message: SlackMessage) -> tuple[str, str] | None:
        """Post ``message`` for everyone; where it landed (channel, ts) when Slack says."""

    async def private(self, message: SlackMessage) -> None: ...


class _ResponseUrl:
    """Replies through a slash command's or a button's ``response_url``."""

    def __init__(self, respond: AsyncRespond) -> None:
        self._respond = respond

    async def public(self, message: SlackMessage) -> tuple[str, str] | None:
        await self._send(message, "in_channel")
        return None  # a response_url post has no ts: it cannot be updated later

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

    async def public(self, message: SlackMessage) -> tuple[str, str] | None:
        response = await self._client.chat_postMessage(
            channel=self._channel,
            thread_ts=self._thread_ts,
            text=message.text,
            blocks=list(message.blocks) or None,
            unfurl_links=False,
            unfurl_media=False,
        )
        channel, ts = response.get("channel"), response.get("ts")
        return (str(channel), str(ts)) if channel and ts else None

    async def private(self, message: SlackMessage) -> None:
        if self._notices_public or not self._user:
            await self.public(message)
            return
        await self._client.chat_postEphemeral(
            channel=self._channel, user=self._user, thread_ts=self._thread_ts, text=message.text
        )


async def _deliver(
    asking: Awaitable[Reply],
    where: _Destination,
    signer: ButtonSigner,
    service: AnswerService | None = None,
) -> Reply | None:
    """Wait for the core's reply and post it: answers publicly (with signed buttons), notices
    privately; the reply, once posted. With ``service``, an answer posted as one message is
    kept where it landed (to follow its sources)."""
    async with _reported(where):
        reply = await asking
        if reply.kind is ReplyKind.DUPLICATE:
            log.info("ignored a repeated Slack delivery")
            return None
        messages = render_reply(reply, button_value(signer, reply))
        for message in messages:
            if not reply.is_public:
                await where.private(message)
                continue
            landed = await where.public(message)
            if landed and service is not None and len(messages) == 1:
                service.posted(reply, PLATFORM, *landed)
        return reply
    return None


def button_value(signer: ButtonSigner, reply: Reply) -> str:
    """What the buttons under ``reply``'s answer carry (signed; "" for a notice)."""
    if reply.answer is None or not reply.answer_id:
        return ""
    asked = reply.kind is ReplyKind.ANSWER
    return signer.seal(
        answer_ref(reply.answer, reply.answer_id, asked=asked, follows=reply.follows)
    )


class SlackEditor:
    """Replaces an answer the bot posted with ``chat.update`` (``bot.updates.Editor``).

    Slack lets an app update only its own messages, and only those the log recorded are ever
    asked for. A 429 is retried after its Retry-After by the client's handler."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient, signer: ButtonSigner) -> None:
        self._client = client
        self._signer = signer

    async def edit(self, update: Update) -> None:
        ref = answer_ref(update.answer, update.answer_id)
        message = render_update(update, self._signer.seal(ref))
        try:
            await self._client.chat_update(
                channel=update.post.channel,
                ts=update.post.message,
                text=message.text,
                blocks=list(message.blocks),
            )
        except SlackApiError as exc:  # message_not_found, cant_update_message, channel_not_found
            raise EditRefused(str(exc.response.get("error", "unknown error"))) from None


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
    return _asker(command.get("user_id"), command.get("channel_id"))


def _event_asker(event: Payload) -> Asker:
    return _asker(event.get("user"), event.get("channel"))


def _action_asker(body: Payload) -> Asker:
    return _asker((body.get("user") or {}).get("id"), (body.get("channel") or {}).get("id"))


def _asker(user: object, channel: object) -> Asker:
    # Slack calls a DM an "im"; the question log uses one word for it on every platform.
    return Asker(PLATFORM, str(user or ""), DM if _is_dm(str(channel or "")) else CHANNEL)


def _is_dm(channel: str) -> bool:
    return channel.startswith("D")  # Slack's DM channel ids start with D


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
