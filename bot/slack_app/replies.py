"""Posting a reply on Slack: who asked, where the reply goes, and how failures are reported.

* The :class:`bot.service.Asker` behind a slash command, an event or a button click.
* Destinations: a slash command's or a button's ``response_url`` (:class:`ResponseUrl`), or
  a channel thread or DM through ``chat.postMessage`` (:class:`Conversation`).
* :func:`deliver` waits for the core's reply and posts it: answers publicly with their signed
  buttons (:func:`button_value`), notices privately. An answer posted as one message with
  ``chat.postMessage`` is kept (channel and ts, :meth:`bot.service.AnswerService.posted`) so
  :class:`bot.slack_app.editor.SlackEditor` can update it when its sources change; a
  ``response_url`` post has no ts and cannot be addressed later.
* :func:`reported`: failures reaching Slack are logged with Slack's error code only; anything
  unexpected is logged with its traceback and the person gets a generic apology, never the
  exception's text.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol

import aiohttp
from slack_bolt.async_app import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.buttons import ButtonSigner, answer_ref
from bot.service import CHANNEL, DM, FAILED, AnswerService, Asker, Reply, ReplyKind
from bot.slack_app.render import SlackMessage, render_notice, render_reply

log = logging.getLogger(__name__)

PLATFORM = "slack"
Payload = dict[str, Any]


# -- who asked -----------------------------------------------------------------------------


def command_asker(command: Payload) -> Asker:
    return _asker(command.get("user_id"), command.get("channel_id"))


def event_asker(event: Payload) -> Asker:
    return _asker(event.get("user"), event.get("channel"))


def action_asker(body: Payload) -> Asker:
    return _asker((body.get("user") or {}).get("id"), (body.get("channel") or {}).get("id"))


def _asker(user: object, channel: object) -> Asker:
    # Slack calls a DM an "im"; the question log uses one word for it on every platform.
    return Asker(PLATFORM, str(user or ""), DM if is_dm(str(channel or "")) else CHANNEL)


def is_dm(channel: str) -> bool:
    return channel.startswith("D")  # Slack's DM channel ids start with D


# -- where the reply goes ------------------------------------------------------------------


class Destination(Protocol):
    async def public(self, message: SlackMessage) -> tuple[str, str] | None:
        """Post ``message`` for everyone; where it landed (channel, ts) when Slack says."""

    async def private(self, message: SlackMessage) -> None: ...


class ResponseUrl:
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


class Conversation:
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


# -- posting -------------------------------------------------------------------------------


async def deliver(
    asking: Awaitable[Reply],
    where: Destination,
    signer: ButtonSigner,
    service: AnswerService | None = None,
) -> Reply | None:
    """Wait for the core's reply and post it: answers publicly (with signed buttons), notices
    privately; the reply, once posted. With ``service``, an answer posted as one message is
    kept where it landed (to follow its sources)."""
    async with reported(where):
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


@contextlib.asynccontextmanager
async def reported(where: Destination) -> AsyncIterator[None]:
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
